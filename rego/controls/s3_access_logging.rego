# Buckets (those whose names start with `[controls] access_logging_prefixes`, or all) log server access to `[controls] log_bucket` (FSBP S3.9).
package custos.controls.s3_access_logging

metadata := {
	"id": "s3-access-logging",
	"title": "S3 bucket logs server access to the configured log bucket",
	"severity": "low",
	"resource_types": ["AWS::S3::Bucket"],
	"frameworks": {
		"aws-fsbp": ["S3.9"],
		"fedramp-moderate": ["AU-2", "AU-12"],
		"cmmc-2.0-l2": ["AU.L2-3.3.1"],
		"cis-aws-foundations-v3.0": [],
		"nist-800-53-r5": ["AU-2", "AU-12"],
		"nist-800-171-r2": ["3.3.1"],
	},
	"remediation": "s3-enable-access-logging",
	"class": "auto",
	"terraform": `resource "aws_s3_bucket_logging" "this" {
  bucket        = "{resource_name}"
  target_bucket = "<log-bucket>" # its policy must let logging.s3.amazonaws.com write
  target_prefix = "{resource_name}/"
}
`,
}

settings := object.get(data, ["custos", "config", "settings"], {})

target := object.get(settings, "log_bucket", null)

prefixes := object.get(settings, "access_logging_prefixes", [])

selected if count(prefixes) == 0

selected if {
	some p in prefixes
	startswith(input.resourceId, p)
}

violations contains msg if {
	is_string(target)
	input.resourceId != target
	selected
	not logging_on
	msg := sprintf("server access logging is off (want it to `%s`)", [target])
}

# AWS Config records a bucket without logging as `{"destinationBucketName": null}`; a
# scan leaves the part out. Either way, logging is on only with a destination named.
logging_on if {
	dest := object.get(input, ["supplementaryConfiguration", "BucketLoggingConfiguration", "destinationBucketName"], null)
	is_string(dest)
	dest != ""
}
