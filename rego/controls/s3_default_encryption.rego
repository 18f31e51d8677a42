# S3 default encryption: every new object is encrypted at rest (SSE-S3 or SSE-KMS).
package custos.controls.s3_default_encryption

metadata := {
	"id": "s3-default-encryption",
	"title": "S3 bucket encrypts objects at rest by default",
	"severity": "medium",
	"resource_types": ["AWS::S3::Bucket"],
	# CIS AWS Foundations dropped this control in v2.0 because AWS now encrypts new
	# buckets by default; buckets whose default encryption was removed still fail it.
	"frameworks": {
		"aws-fsbp": [],
		"cis-aws-foundations-v3.0": [],
		"fedramp-moderate": ["SC-13", "SC-28", "SC-28(1)"],
		"cmmc-2.0-l2": ["SC.L2-3.13.11", "SC.L2-3.13.16"],
		"nist-800-53-r5": ["SC-13", "SC-28", "SC-28(1)"],
		"nist-800-171-r2": ["3.13.11", "3.13.16"],
	},
	"remediation": "s3-default-encryption",
	"class": "auto",
	"terraform": `resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = "{resource_name}"
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256" # or "aws:kms" with kms_master_key_id = "<kms-key-arn>"
    }
  }
}
`,
}

accepted_algorithms := {"AES256", "aws:kms", "aws:kms:dsse"}

rules := object.get(input.supplementaryConfiguration, ["ServerSideEncryptionConfiguration", "rules"], [])

algorithms contains alg if {
	some rule in rules
	alg := rule.applyServerSideEncryptionByDefault.sseAlgorithm
}

violations contains msg if {
	count(algorithms) == 0
	msg := "no default encryption is configured"
}

violations contains msg if {
	some alg in algorithms
	not alg in accepted_algorithms
	msg := sprintf("default encryption uses unsupported algorithm `%s`", [alg])
}
