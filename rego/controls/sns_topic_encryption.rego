# SNS topics encrypt messages at rest with KMS (FSBP SNS.1).
package custos.controls.sns_topic_encryption

metadata := {
	"id": "sns-topic-encryption",
	"title": "SNS topic encrypts messages at rest",
	"severity": "medium",
	"resource_types": ["AWS::SNS::Topic"],
	"frameworks": {
		"aws-fsbp": ["SNS.1"],
		"fedramp-moderate": ["SC-28", "SC-28(1)"],
		"cmmc-2.0-l2": ["SC.L2-3.13.16"],
		"cis-aws-foundations-v3.0": [],
		"nist-800-53-r5": ["SC-28", "SC-28(1)"],
		"nist-800-171-r2": ["3.13.16"],
	},
	"remediation": "sns-enable-sse",
	"class": "auto",
	"terraform": `resource "aws_sns_topic" "this" {
  name              = "{resource_name}"
  kms_master_key_id = "<kms-key-arn>" # or "alias/aws/sns"
  # ... the rest of the topic's configuration as it is
}
`,
}

violations contains "the topic is not encrypted at rest" if {
	object.get(input, ["configuration", "KmsMasterKeyId"], "") == ""
}
