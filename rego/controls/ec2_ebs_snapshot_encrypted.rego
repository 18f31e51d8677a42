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
	"guidance": "Copy the snapshot encrypted (`aws ec2 copy-snapshot --source-snapshot-id <id> --source-region <region> --encrypted --kms-key-id <key>`), point AMIs and restores at the copy, then delete the unencrypted snapshot once nothing needs it.",
}

violations contains "the snapshot is not encrypted" if {
	object.get(input, ["configuration", "encrypted"], false) != true
}
