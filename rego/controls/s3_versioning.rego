# S3 versioning: objects can be recovered after overwrite or deletion.
package custos.controls.s3_versioning

metadata := {
	"id": "s3-versioning",
	"title": "S3 bucket keeps object versions",
	"severity": "medium",
	"resource_types": ["AWS::S3::Bucket"],
	"frameworks": {
		"aws-fsbp": ["S3.14"],
		"fedramp-moderate": ["CP-9", "CP-10", "SI-12"],
		"cmmc-2.0-l2": ["MP.L2-3.8.9"],
		"cis-aws-foundations-v3.0": ["2.1.2"],
		"nist-800-53-r5": ["CP-9", "CP-10", "SI-12"],
		"nist-800-171-r2": ["3.8.9"],
	},
	"remediation": "s3-enable-versioning",
	"class": "human",
	"terraform": `resource "aws_s3_bucket_versioning" "this" {
  bucket = "{resource_name}"
  versioning_configuration {
    status = "Enabled"
  }
}
`,
}

status := object.get(input.supplementaryConfiguration, ["BucketVersioningConfiguration", "status"], "Off")

violations contains msg if {
	status != "Enabled"
	msg := sprintf("versioning is `%s`, not `Enabled`", [status])
}
