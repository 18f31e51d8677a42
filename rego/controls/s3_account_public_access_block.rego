# The account's S3 Block Public Access (FSBP S3.1, CIS 2.1.4): all four flags on, so that no bucket, now or later,
# can be made public by an ACL or a policy. Human: the setting is account-wide (every bucket of every team, and
# every website bucket that serves content publicly without CloudFront stops serving it), so a person approves it.
package custos.controls.s3_account_public_access_block

metadata := {
	"id": "s3-account-public-access-block",
	"title": "The account blocks S3 public access",
	"severity": "medium",
	"resource_types": ["AWS::S3::AccountPublicAccessBlock"],
	"frameworks": {
		"aws-fsbp": ["S3.1"],
		"fedramp-moderate": ["AC-21", "AC-3", "AC-4", "AC-6", "SC-7", "SC-7(3)"],
		"cmmc-2.0-l2": ["AC.L2-3.1.1", "AC.L2-3.1.3", "AC.L2-3.1.22", "SC.L2-3.13.1"],
		"cis-aws-foundations-v3.0": ["2.1.4"],
		"nist-800-53-r5": ["AC-21", "AC-3", "AC-3(7)", "AC-4", "AC-4(21)", "AC-6", "SC-7", "SC-7(11)", "SC-7(16)", "SC-7(20)", "SC-7(21)", "SC-7(3)", "SC-7(4)", "SC-7(9)"],
		"nist-800-171-r2": ["3.1.1", "3.1.3", "3.1.22", "3.13.1"],
	},
	"remediation": "s3-block-public-access-account",
	"class": "human",
	"terraform": `resource "aws_s3_account_public_access_block" "this" {
  block_public_acls       = true
  ignore_public_acls      = true
  block_public_policy     = true
  restrict_public_buckets = true
}
`,
}

flags := ["blockPublicAcls", "ignorePublicAcls", "blockPublicPolicy", "restrictPublicBuckets"]

configuration := c if {
	c := object.get(input, "configuration", {})
	is_object(c)
} else := {}

violations contains msg if {
	some flag in flags
	object.get(configuration, flag, false) != true
	msg := sprintf("the account's S3 Block Public Access has `%s` off", [flag])
}
