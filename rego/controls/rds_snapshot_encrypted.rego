# RDS DB snapshot is encrypted at rest (FSBP RDS.4). Alert-only: a snapshot cannot be encrypted in place; an encrypted
# copy is a new snapshot, and whether the unencrypted one can be deleted (restores, retention, audits that name it) is
# a person's decision.
package custos.controls.rds_snapshot_encrypted

metadata := {
	"id": "rds-snapshot-encrypted",
	"title": "RDS DB snapshot is encrypted at rest",
	"severity": "medium",
	"resource_types": ["AWS::RDS::DBSnapshot"],
	"frameworks": {
		"aws-fsbp": ["RDS.4"],
		"fedramp-moderate": ["SC-13", "SC-28", "SC-28(1)"],
		"cmmc-2.0-l2": ["SC.L2-3.13.16"],
		"cis-aws-foundations-v3.0": [],
		"nist-800-53-r5": ["CA-9(1)", "CM-3(6)", "SC-13", "SC-28", "SC-28(1)", "SC-7(10)", "SI-7(6)"],
		"nist-800-171-r2": ["3.13.16"],
	},
	"class": "alert",
	"guidance": "Copy the snapshot with a KMS key (the copy is encrypted), use the copy for restores, then delete the unencrypted snapshot once nothing needs it. An automated snapshot cannot be deleted on its own; it is an unencrypted instance's backup: encrypt the instance (control `rds-storage-encrypted`) and its snapshots follow.",
	"cli": [
		"aws rds copy-db-snapshot --region {region} --source-db-snapshot-identifier {resource_id} --target-db-snapshot-identifier {resource_id}-encrypted --kms-key-id <kms-key-arn> --copy-tags",
		"aws rds wait db-snapshot-available --region {region} --db-snapshot-identifier {resource_id}-encrypted",
		"aws rds delete-db-snapshot --region {region} --db-snapshot-identifier {resource_id}",
	],
	"terraform": `resource "aws_db_snapshot_copy" "encrypted" {
  source_db_snapshot_identifier = "{resource_id}"
  target_db_snapshot_identifier = "{resource_id}-encrypted"
  kms_key_id                    = "<kms-key-arn>"
  copy_tags                     = true
}
`,
}

unencrypted if object.get(input, ["configuration", "encrypted"], false) != true

automated if object.get(input, ["configuration", "snapshotType"], "") == "automated"

violations contains "the snapshot is not encrypted" if {
	unencrypted
	not automated
}

violations contains "the automated snapshot is not encrypted: its instance is not encrypted (see `rds-storage-encrypted`)" if {
	unencrypted
	automated
}
