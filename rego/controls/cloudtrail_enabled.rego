# The account has, seen from this region, a multi-region trail that is logging and records every management event
# (FSBP CloudTrail.1, CIS 3.1). Alert-only: creating a trail needs a bucket whose policy lets CloudTrail write, and costs
# money; once a trail exists, `cloudtrail-logging`, `cloudtrail-multi-region` and `cloudtrail-management-events` fix it
# with an approval.
package custos.controls.cloudtrail_enabled

metadata := {
	"id": "cloudtrail-enabled",
	"title": "A multi-region CloudTrail trail is logging every management event",
	"severity": "high",
	"resource_types": ["AWS::::Account"],
	"frameworks": {
		"aws-fsbp": ["CloudTrail.1"],
		"fedramp-moderate": ["AU-2", "AU-12"],
		"cmmc-2.0-l2": ["AU.L2-3.3.1"],
		"cis-aws-foundations-v3.0": ["3.1"],
		"nist-800-53-r5": ["AU-2", "AU-12"],
		"nist-800-171-r2": ["3.3.1"],
	},
	"class": "alert",
	"guidance": "Create a bucket whose policy lets `cloudtrail.amazonaws.com` check its ACL and write under `AWSLogs/{account}/`, then a multi-region trail with log file validation, and start it (a new trail records every management event, reads and writes). In us-east-1 leave out `--create-bucket-configuration`. A new trail costs money and needs that bucket policy, so custos leaves creating it to a person; it fixes an existing trail's logging and regions, and its basic event selectors, with an approval (a trail with advanced event selectors is left to a person).",
	"cli": [
		"aws s3api create-bucket --region {region} --bucket <bucket-name> --create-bucket-configuration LocationConstraint=<bucket-region>",
		"aws s3api put-bucket-policy --bucket <bucket-name> --policy file://<cloudtrail-bucket-policy.json>",
		"aws cloudtrail create-trail --region {region} --name <trail-name> --s3-bucket-name <bucket-name> --is-multi-region-trail --include-global-service-events --enable-log-file-validation",
		"aws cloudtrail start-logging --region {region} --name <trail-name>",
	],
	"terraform": `resource "aws_s3_bucket" "trail" {
  bucket = "<bucket-name>"
}

resource "aws_s3_bucket_policy" "trail" {
  bucket = aws_s3_bucket.trail.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      { Effect = "Allow", Principal = { Service = "cloudtrail.amazonaws.com" }, Action = "s3:GetBucketAcl", Resource = aws_s3_bucket.trail.arn },
      { Effect = "Allow", Principal = { Service = "cloudtrail.amazonaws.com" }, Action = "s3:PutObject", Resource = "${aws_s3_bucket.trail.arn}/AWSLogs/{account}/*",
        Condition = { StringEquals = { "s3:x-amz-acl" = "bucket-owner-full-control" } } },
    ]
  })
}

resource "aws_cloudtrail" "this" {
  name                          = "<trail-name>"
  s3_bucket_name                = aws_s3_bucket.trail.id
  is_multi_region_trail         = true
  include_global_service_events = true
  enable_log_file_validation    = true
  enable_logging                = true
  depends_on                    = [aws_s3_bucket_policy.trail]
}
`,
}

# `supplementaryConfiguration.Trails` is what the scanner read of the account's trails in this region, shadow trails of
# other regions' multi-region trails included. A field another account's trail (an organization trail) refused is null:
# such a trail may be complete, and raises no alarm. A list that could not be read is named in `Unread` and reported as
# a finding of its own, never taken for compliance.
trails := input.supplementaryConfiguration.Trails

possibly_complete(t) if {
	t.isMultiRegionTrail == true
	t.isLogging != false
	t.managementEvents != false
}

violations contains "no multi-region trail is logging every management event" if {
	is_array(trails)
	count([t | some t in trails; possibly_complete(t)]) == 0
}

violations contains msg if {
	some u in object.get(input, ["supplementaryConfiguration", "Unread"], [])
	startswith(u.action, "cloudtrail:")
	msg := sprintf("the account's trails could not be read (`%s`: %s), so CloudTrail.1 is unknown", [u.action, u.message])
}
