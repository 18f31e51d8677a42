# Every taggable resource custos scans carries the tags the organisation requires (custos.toml [controls]
# required_tags; none required when unset). The fix adds each missing key with the placeholder the operator chose,
# never a guessed owner. Identity resources are left out (custos never changes them), and so are AWS managed KMS
# keys, which cannot be tagged.
package custos.controls.required_tags

metadata := {
	"id": "required-tags",
	"title": "Resource carries the required tags",
	"severity": "low",
	"resource_types": [
		"AWS::S3::Bucket", "AWS::EC2::Instance", "AWS::EC2::SecurityGroup", "AWS::EC2::Volume",
		"AWS::EC2::Snapshot", "AWS::EC2::Image", "AWS::EC2::VPC", "AWS::SQS::Queue", "AWS::SNS::Topic",
		"AWS::KMS::Key", "AWS::Logs::LogGroup", "AWS::CloudTrail::Trail", "AWS::RDS::DBInstance",
		"AWS::RDS::DBSnapshot", "AWS::ACM::Certificate", "AWS::SSM::Document",
		"AWS::Lambda::Function",
	],
	"frameworks": {
		"aws-fsbp": [],
		"cis-aws-foundations-v3.0": [],
		"fedramp-moderate": ["CM-8", "CM-8(4)"],
		"cmmc-2.0-l2": ["CM.L2-3.4.1"],
		"nist-800-53-r5": ["CM-8", "CM-8(4)"],
		"nist-800-171-r2": ["3.4.1"],
	},
	"remediation": "add-required-tags",
	"class": "auto",
	"terraform": `# Add each missing required tag key to the resource's own block:
resource "<resource-type>" "this" {
  # ... the rest of the resource's configuration as it is
  tags = { "<key>" = "<value>" }
}

# or to every resource of the provider configuration:
provider "aws" {
  default_tags {
    tags = { "<key>" = "<value>" }
  }
}
`,
}

required := object.get(data, ["custos", "config", "settings", "required_tags"], [])

# AWS manages its own keys' tags.
aws_managed if {
	input.resourceType == "AWS::KMS::Key"
	object.get(object.get(input, "configuration", {}), "keyManager", "") == "AWS"
}

violations contains msg if {
	not aws_managed
	some key in required
	value := object.get(object.get(input, "tags", {}), key, "")
	trim_space(value) == ""
	msg := sprintf("required tag `%s` is missing", [key])
}
