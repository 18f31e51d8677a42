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
	"guidance": "AWS cannot encrypt a volume in place: snapshot it, create an encrypted volume from the snapshot in the same Availability Zone, stop the instance, swap the volumes (same device name), start it, and delete the old volume once the instance runs from the new one. It needs the instance stopped, so custos leaves it to a person. Turn on EBS encryption by default (control `ec2-ebs-default-encryption`) so new volumes are encrypted.",
	"cli": [
		`aws ec2 create-snapshot --region {region} --volume-id {resource_id} --description "before encrypting "{resource_id}`,
		"aws ec2 wait snapshot-completed --region {region} --snapshot-ids <snapshot-id>",
		"aws ec2 create-volume --region {region} --snapshot-id <snapshot-id> --availability-zone <availability-zone> --volume-type <volume-type> --encrypted --kms-key-id <kms-key-arn>",
		"aws ec2 stop-instances --region {region} --instance-ids <instance-id>",
		"aws ec2 detach-volume --region {region} --volume-id {resource_id}",
		"aws ec2 attach-volume --region {region} --volume-id <new-volume-id> --instance-id <instance-id> --device <device-name>",
		"aws ec2 start-instances --region {region} --instance-ids <instance-id>",
		"aws ec2 delete-volume --region {region} --volume-id {resource_id}",
	],
	"terraform": `resource "aws_ebs_volume" "encrypted" {
  availability_zone = "<availability-zone>"
  snapshot_id       = "<snapshot-id>"
  encrypted         = true
  kms_key_id        = "<kms-key-arn>"
}

resource "aws_ebs_encryption_by_default" "this" {
  enabled = true
}
`,
}

violations contains "the volume is not encrypted" if {
	object.get(input, ["configuration", "encrypted"], false) != true
}
