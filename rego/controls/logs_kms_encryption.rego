# Log groups are encrypted with `[controls] kms_key` when one is configured. Alert-only until an
# emulator implements AssociateKmsKey (LocalStack 4.13.1 and moto 5.2.5 do not).
package custos.controls.logs_kms_encryption

metadata := {
	"id": "logs-kms-encryption",
	"title": "CloudWatch log group is encrypted with the configured KMS key",
	"severity": "low",
	"resource_types": ["AWS::Logs::LogGroup"],
	"frameworks": {
		"aws-fsbp": [],
		"fedramp-moderate": ["SC-28", "SC-28(1)"],
		"cmmc-2.0-l2": ["SC.L2-3.13.16"],
		"cis-aws-foundations-v3.0": [],
		"nist-800-53-r5": ["SC-28", "SC-28(1)"],
		"nist-800-171-r2": ["3.13.16"],
	},
	"class": "alert",
	"guidance": "Give the key a policy that lets the logs service principal of the region use it, then `aws logs associate-kms-key --log-group-name <group> --kms-key-id <key arn>`. custos does not do it yet: no emulator it is tested on implements AssociateKmsKey.",
}

settings := object.get(data, ["custos", "config", "settings"], {})

key := object.get(settings, "kms_key", null)

violations contains msg if {
	is_string(key)
	object.get(input, ["configuration", "kmsKeyId"], "") != key
	msg := sprintf("the log group is not encrypted with `%s`", [key])
}
