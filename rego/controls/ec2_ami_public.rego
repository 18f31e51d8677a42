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
	"terraform": `# Remove any aws_ami_launch_permission with group = "all" for the image;
# if it must be shared, share it with accounts by id:
resource "aws_ami_launch_permission" "this" {
  image_id   = "{resource_id}"
  account_id = "<account-id>"
}

# Optional: refuse new public sharing of AMIs in the region (images already public stay public).
resource "aws_ec2_image_block_public_access" "this" {
  state = "block-new-sharing"
}
`,
}

violations contains "the image is public: any AWS account can launch it" if {
	object.get(input, ["configuration", "public"], false) == true
}
