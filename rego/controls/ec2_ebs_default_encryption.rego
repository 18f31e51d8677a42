# EBS encryption by default, per account and region: new volumes are always encrypted.
package custos.controls.ec2_ebs_default_encryption

metadata := {
	"id": "ec2-ebs-default-encryption",
	"title": "EBS encryption by default is enabled for the account and region",
	"severity": "medium",
	"resource_types": ["AWS::::Account"],
	"frameworks": {
		"aws-fsbp": ["EC2.7"],
		"fedramp-moderate": ["SC-28", "SC-28(1)"],
		"cmmc-2.0-l2": ["SC.L2-3.13.16"],
		"cis-aws-foundations-v3.0": ["2.2.1"],
		"nist-800-53-r5": ["SC-28", "SC-28(1)"],
		"nist-800-171-r2": ["3.13.16"],
	},
	"remediation": "ec2-enable-ebs-encryption-by-default",
	"class": "auto",
	"terraform": `resource "aws_ebs_encryption_by_default" "this" {
  enabled = true
}
# one per region: the region of the provider configuration it is created with
`,
}

violations contains "EBS encryption by default is off" if {
	object.get(input, ["configuration", "ebsEncryptionByDefault"], false) != true
}
