# An AMI the account owns is not public: a public image can be launched by any AWS account, with whatever data and
# credentials were baked into it. Human: making it private breaks the accounts (and Marketplace listings) that launch it
# today, so each change needs an approval.
package custos.controls.ec2_ami_public

metadata := {
	"id": "ec2-ami-public",
	"title": "AMI is not public",
	"severity": "high",
	"resource_types": ["AWS::EC2::Image"],
	"frameworks": {
		"aws-fsbp": [],
		"fedramp-moderate": ["AC-3", "AC-4", "AC-6", "AC-21", "SC-7"],
		"cmmc-2.0-l2": ["AC.L2-3.1.1", "AC.L2-3.1.3", "AC.L2-3.1.22", "SC.L2-3.13.1"],
		"cis-aws-foundations-v3.0": [],
		"nist-800-53-r5": ["AC-3", "AC-4", "AC-6", "AC-21", "SC-7"],
		"nist-800-171-r2": ["3.1.1", "3.1.3", "3.1.22", "3.13.1"],
	},
	"remediation": "ec2-make-image-private",
	"class": "human",
}

violations contains "the image is public: any AWS account can launch it" if {
	object.get(input, ["configuration", "public"], false) == true
}
