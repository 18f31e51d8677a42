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
	"guidance": "Give the key a policy statement that lets the region's CloudWatch Logs service principal (`logs.{region}.amazonaws.com`) use it (`kms:Encrypt*`, `kms:Decrypt*`, `kms:ReEncrypt*`, `kms:GenerateDataKey*`, `kms:Describe*`, conditioned on `kms:EncryptionContext:aws:logs:arn`), then associate the key with the log group. custos does not do it yet: no emulator it is tested on implements AssociateKmsKey.",
	"cli": [
		"aws kms get-key-policy --region {region} --key-id <kms-key-arn> --policy-name default --output text",
		"aws kms put-key-policy --region {region} --key-id <kms-key-arn> --policy-name default --policy file://<key-policy.json>",
		"aws logs associate-kms-key --region {region} --log-group-name {resource_name} --kms-key-id <kms-key-arn>",
	],
	"terraform": `resource "aws_cloudwatch_log_group" "this" {
  name       = "{resource_name}"
  kms_key_id = "<kms-key-arn>" # its key policy must allow logs.{region}.amazonaws.com
}
`,
}

settings := object.get(data, ["custos", "config", "settings"], {})

key := object.get(settings, "kms_key", null)

violations contains msg if {
	is_string(key)
	object.get(input, ["configuration", "kmsKeyId"], "") != key
	msg := sprintf("the log group is not encrypted with `%s`", [key])
}
