# RDS DB instance storage is encrypted at rest (FSBP RDS.3, CIS 2.3.1). Alert-only: AWS cannot encrypt an instance in
# place; the fix restores a new instance from an encrypted snapshot copy and moves clients to it, a cut-over only a
# person can schedule.
package custos.controls.rds_storage_encrypted

metadata := {
	"id": "rds-storage-encrypted",
	"title": "RDS DB instance storage is encrypted at rest",
	"severity": "high",
	"resource_types": ["AWS::RDS::DBInstance"],
	"frameworks": {
		"aws-fsbp": ["RDS.3"],
		"fedramp-moderate": ["SC-13", "SC-28", "SC-28(1)"],
		"cmmc-2.0-l2": ["SC.L2-3.13.16"],
		"cis-aws-foundations-v3.0": ["2.3.1"],
		"nist-800-53-r5": ["CA-9(1)", "CM-3(6)", "SC-13", "SC-28", "SC-28(1)", "SC-7(10)", "SI-7(6)"],
		"nist-800-171-r2": ["3.13.16"],
	},
	"class": "alert",
	"guidance": "AWS cannot encrypt an existing DB instance in place. Snapshot it, copy the snapshot with a KMS key (the copy is encrypted), restore a new instance from the copy with the old one's class, subnet group and security groups, move clients to the new endpoint (or swap identifiers with `modify-db-instance --new-db-instance-identifier`), then delete the old instance once nothing uses it. The restore is a new database and needs a cut-over window, so custos leaves it to a person. For a member of an Aurora cluster do the same for the whole cluster (`create-db-cluster-snapshot`, `copy-db-cluster-snapshot --kms-key-id`, `restore-db-cluster-from-snapshot`).",
	"cli": [
		"aws rds create-db-snapshot --region {region} --db-instance-identifier {resource_name} --db-snapshot-identifier {resource_name}-unencrypted",
		"aws rds wait db-snapshot-available --region {region} --db-snapshot-identifier {resource_name}-unencrypted",
		"aws rds copy-db-snapshot --region {region} --source-db-snapshot-identifier {resource_name}-unencrypted --target-db-snapshot-identifier {resource_name}-encrypted --kms-key-id <kms-key-arn>",
		"aws rds wait db-snapshot-available --region {region} --db-snapshot-identifier {resource_name}-encrypted",
		"aws rds restore-db-instance-from-db-snapshot --region {region} --db-instance-identifier <new-instance-identifier> --db-snapshot-identifier {resource_name}-encrypted --db-instance-class <instance-class> --db-subnet-group-name <db-subnet-group> --vpc-security-group-ids <security-group-id>",
		"aws rds wait db-instance-available --region {region} --db-instance-identifier <new-instance-identifier>",
		"aws rds modify-db-instance --region {region} --db-instance-identifier <old-instance-identifier> --no-deletion-protection --apply-immediately  # only after the cut-over: nothing uses the old instance",
		"aws rds delete-db-instance --region {region} --db-instance-identifier <old-instance-identifier> --final-db-snapshot-identifier <old-instance-identifier>-final  # only after the cut-over",
	],
	"terraform": `# Restore from the encrypted copy: setting storage_encrypted on the existing aws_db_instance
# makes Terraform replace it with a new, empty instance.
resource "aws_db_instance" "encrypted" {
  identifier          = "<new-instance-identifier>"
  instance_class      = "<instance-class>"
  snapshot_identifier = "{resource_name}-encrypted"
  storage_encrypted   = true
  kms_key_id          = "<kms-key-arn>"
}
`,
}

cluster := object.get(input, ["configuration", "dBClusterIdentifier"], "")

unencrypted if object.get(input, ["configuration", "storageEncrypted"], false) != true

violations contains "the instance's storage is not encrypted at rest" if {
	unencrypted
	not is_string(cluster)
}

violations contains "the instance's storage is not encrypted at rest" if {
	unencrypted
	cluster == ""
}

violations contains msg if {
	unencrypted
	is_string(cluster)
	cluster != ""
	msg := sprintf("the instance's storage is not encrypted at rest (it belongs to Aurora cluster `%s`, which is encrypted or not as a whole)", [cluster])
}
