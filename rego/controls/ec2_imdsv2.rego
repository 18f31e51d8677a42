# Instances must require IMDSv2 (session tokens) when the metadata service is on.
package custos.controls.ec2_imdsv2

metadata := {
	"id": "ec2-imdsv2",
	"title": "EC2 instance requires IMDSv2",
	"severity": "high",
	"resource_types": ["AWS::EC2::Instance"],
	"frameworks": {
		"aws-fsbp": ["EC2.8"],
		"fedramp-moderate": ["AC-3", "AC-6", "CM-6", "SC-7"],
		"cmmc-2.0-l2": ["AC.L2-3.1.1", "CM.L2-3.4.2"],
		"cis-aws-foundations-v3.0": ["5.6"],
		"nist-800-53-r5": ["AC-3", "AC-6", "CM-6", "SC-7"],
		"nist-800-171-r2": ["3.1.1", "3.4.2"],
	},
	"remediation": "ec2-require-imdsv2",
	"class": "auto",
	"terraform": `resource "aws_instance" "this" {
  # ... the rest of the instance's configuration as it is
  metadata_options {
    http_endpoint = "enabled"
    http_tokens   = "required"
  }
}
# likewise metadata_options in the aws_launch_template the instance is launched from
`,
}

opts := object.get(input, ["configuration", "metadataOptions"], {})

endpoint_enabled if object.get(opts, "httpEndpoint", "enabled") != "disabled"

violations contains msg if {
	endpoint_enabled
	tokens := object.get(opts, "httpTokens", "optional")
	tokens != "required"
	msg := sprintf("instance metadata tokens are `%s`, not `required`", [tokens])
}
