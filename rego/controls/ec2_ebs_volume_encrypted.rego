# EBS volume is encrypted at rest. Alert-only: a person acts on the finding; custos never executes anything for it.
package custos.controls.ec2_ebs_volume_encrypted

metadata := {
	"id": "ec2-ebs-volume-encrypted",
	"title": "EBS volume is encrypted at rest",
	"severity": "medium",
	"resource_types": ["AWS::EC2::Volume"],
	"frameworks": {
		"aws-fsbp": ["EC2.3"],
		"fedramp-moderate": ["SC-28", "SC-28(1)"],
		"cmmc-2.0-l2": ["SC.L2-3.13.16"],
		"cis-aws-foundations-v3.0": [],
		"nist-800-53-r5": ["SC-28", "SC-28(1)"],
		"nist-800-171-r2": ["3.13.16"],
	},
	"class": "alert",
	"guidance": "AWS cannot encrypt a volume in place: snapshot it (`aws ec2 create-snapshot --volume-id <id>`), copy the snapshot encrypted (`aws ec2 copy-snapshot --source-snapshot-id <snap> --source-region <region> --encrypted --kms-key-id <key>`), create a volume from the copy (`aws ec2 create-volume --snapshot-id <copy> --availability-zone <az>`), swap it in during a stop of the instance, then delete the old volume. Turn on EBS encryption by default (control `ec2-ebs-default-encryption`) so new volumes are encrypted.",
}

violations contains "the volume is not encrypted" if {
	object.get(input, ["configuration", "encrypted"], false) != true
}
