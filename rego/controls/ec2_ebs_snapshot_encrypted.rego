# EBS snapshot is encrypted at rest. Alert-only: a person acts on the finding; custos never executes anything for it.
package custos.controls.ec2_ebs_snapshot_encrypted

metadata := {
	"id": "ec2-ebs-snapshot-encrypted",
	"title": "EBS snapshot is encrypted at rest",
	"severity": "medium",
	"resource_types": ["AWS::EC2::Snapshot"],
	"frameworks": {
		"aws-fsbp": [],
		"fedramp-moderate": ["SC-28", "SC-28(1)"],
		"cmmc-2.0-l2": ["SC.L2-3.13.16"],
		"cis-aws-foundations-v3.0": [],
		"nist-800-53-r5": ["SC-28", "SC-28(1)"],
		"nist-800-171-r2": ["3.13.16"],
	},
	"class": "alert",
	"guidance": "Copy the snapshot encrypted, point AMIs and restores at the copy, then delete the unencrypted snapshot once nothing needs it (an AMI's snapshot cannot be deleted before the AMI is deregistered). Deleting it is a person's decision, so custos does not act.",
	"cli": [
		`aws ec2 copy-snapshot --region {region} --source-region {region} --source-snapshot-id {resource_id} --encrypted --kms-key-id <kms-key-arn> --description "encrypted copy of "{resource_id}`,
		"aws ec2 wait snapshot-completed --region {region} --snapshot-ids <new-snapshot-id>",
		"aws ec2 delete-snapshot --region {region} --snapshot-id {resource_id}",
	],
	"terraform": `resource "aws_ebs_snapshot_copy" "encrypted" {
  source_snapshot_id = "{resource_id}"
  source_region      = "{region}"
  encrypted          = true
  kms_key_id         = "<kms-key-arn>"
}
`,
}

violations contains "the snapshot is not encrypted" if {
	object.get(input, ["configuration", "encrypted"], false) != true
}
