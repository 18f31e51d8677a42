# Where `[controls] s3_sse_kms = true`, buckets use SSE-KMS with `[controls] kms_key` and S3 Bucket Keys (FSBP S3.17). Human: every reader and writer needs the key.
package custos.controls.s3_sse_kms

metadata := {
	"id": "s3-sse-kms",
	"title": "S3 bucket uses SSE-KMS with the configured key and bucket keys",
	"severity": "medium",
	"resource_types": ["AWS::S3::Bucket"],
	"frameworks": {
		"aws-fsbp": ["S3.17"],
		"fedramp-moderate": ["SC-28", "SC-28(1)", "SC-12"],
		"cmmc-2.0-l2": ["SC.L2-3.13.16"],
		"cis-aws-foundations-v3.0": [],
		"nist-800-53-r5": ["SC-28", "SC-28(1)", "SC-12"],
		"nist-800-171-r2": ["3.13.16"],
	},
	"remediation": "s3-require-sse-kms",
	"class": "human",
	"terraform": `resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = "{resource_name}"
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = "<kms-key-arn>"
    }
    bucket_key_enabled = true
  }
}
`,
}

settings := object.get(data, ["custos", "config", "settings"], {})

key := object.get(settings, "kms_key", null)

rule := object.get(input, ["supplementaryConfiguration", "ServerSideEncryptionConfiguration", "rules", 0], {})

sse := object.get(rule, "applyServerSideEncryptionByDefault", {})

violations contains msg if {
	object.get(settings, "s3_sse_kms", false) == true
	is_string(key)
	not compliant
	msg := sprintf("default encryption is not SSE-KMS with `%s` and bucket keys", [key])
}

compliant if {
	object.get(sse, "sseAlgorithm", "") == "aws:kms"
	object.get(sse, "kmsMasterKeyID", "") == key
	object.get(rule, "bucketKeyEnabled", false) == true
}
