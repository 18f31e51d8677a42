# CloudTrail log files are encrypted with `[controls] kms_key` when one is configured (FSBP CloudTrail.2, CIS 3.5).
package custos.controls.cloudtrail_kms_encryption

metadata := {
	"id": "cloudtrail-kms-encryption",
	"title": "CloudTrail trail encrypts its logs with KMS",
	"severity": "medium",
	"resource_types": ["AWS::CloudTrail::Trail"],
	"frameworks": {
		"aws-fsbp": ["CloudTrail.2"],
		"fedramp-moderate": ["AU-9", "SC-28"],
		"cmmc-2.0-l2": ["AU.L2-3.3.8"],
		"cis-aws-foundations-v3.0": ["3.5"],
		"nist-800-53-r5": ["AU-9", "SC-28"],
		"nist-800-171-r2": ["3.3.8"],
	},
	"remediation": "cloudtrail-encrypt-logs",
	"class": "auto",
	"terraform": `resource "aws_cloudtrail" "this" {
  name       = "{resource_name}"
  kms_key_id = "<kms-key-arn>" # its key policy must let cloudtrail.amazonaws.com use it
  # ... the rest of the trail's configuration as it is
}
`,
}

settings := object.get(data, ["custos", "config", "settings"], {})

key := object.get(settings, "kms_key", null)

violations contains msg if {
	is_string(key)
	object.get(input, ["configuration", "kmsKeyId"], "") == ""
	msg := sprintf("the trail's logs are not encrypted with KMS (want `%s`)", [key])
}
