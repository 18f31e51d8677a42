# S3 bucket-level Block Public Access: all four flags must be on.
package custos.controls.s3_public_access_block

metadata := {
	"id": "s3-public-access-block",
	"title": "S3 bucket blocks all public access",
	"severity": "high",
	"resource_types": ["AWS::S3::Bucket"],
	"frameworks": {
		"aws-fsbp": ["S3.8"],
		"fedramp-moderate": ["AC-3", "AC-4", "AC-6", "AC-21", "SC-7"],
		"cmmc-2.0-l2": ["AC.L2-3.1.1", "AC.L2-3.1.3", "AC.L2-3.1.22", "SC.L2-3.13.1"],
		"cis-aws-foundations-v3.0": ["2.1.4"],
		"nist-800-53-r5": ["AC-3", "AC-4", "AC-6", "AC-21", "SC-7"],
		"nist-800-171-r2": ["3.1.1", "3.1.3", "3.1.22", "3.13.1"],
	},
	"remediation": "s3-block-public-access",
	"class": "auto",
	"terraform": `resource "aws_s3_bucket_public_access_block" "this" {
  bucket                  = "{resource_name}"
  block_public_acls       = true
  ignore_public_acls      = true
  block_public_policy     = true
  restrict_public_buckets = true
}
`,
}

flags := ["blockPublicAcls", "ignorePublicAcls", "blockPublicPolicy", "restrictPublicBuckets"]

violations contains msg if {
	not input.supplementaryConfiguration.PublicAccessBlockConfiguration
	msg := "no bucket-level public access block is configured"
}

violations contains msg if {
	pab := input.supplementaryConfiguration.PublicAccessBlockConfiguration
	some flag in flags
	object.get(pab, flag, false) != true
	msg := sprintf("public access block flag `%s` is not enabled", [flag])
}
