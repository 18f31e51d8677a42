# RDS DB instance keeps automated backups at least `[controls] rds_backup_retention_days` (7 by default; FSBP RDS.11).
# Members of an Aurora cluster (backups are the cluster's) and read replicas are skipped. Human: longer retention costs
# backup storage and changing it from 0 turns backups on, which briefly suspends I/O on a Single-AZ instance.
package custos.controls.rds_backup_retention

metadata := {
	"id": "rds-backup-retention",
	"title": "RDS DB instance keeps automated backups for the configured minimum",
	"severity": "medium",
	"resource_types": ["AWS::RDS::DBInstance"],
	"frameworks": {
		"aws-fsbp": ["RDS.11"],
		"fedramp-moderate": ["CP-10", "CP-6", "CP-6(1)", "CP-9", "SI-12"],
		"cmmc-2.0-l2": ["MP.L2-3.8.9"],
		"cis-aws-foundations-v3.0": [],
		"nist-800-53-r5": ["CP-10", "CP-6", "CP-6(1)", "CP-6(2)", "CP-9", "SC-5(2)", "SI-12", "SI-13(5)"],
		"nist-800-171-r2": ["3.8.9"],
	},
	"remediation": "rds-set-backup-retention",
	"class": "human",
	"terraform": `resource "aws_db_instance" "this" {
  identifier              = "{resource_name}"
  backup_retention_period = "<retention-days>" # at least [controls] rds_backup_retention_days
  # apply_immediately = true applies it now rather than in the maintenance window
  # ... the rest of the instance's configuration as it is
}
`,
}

settings := object.get(data, ["custos", "config", "settings"], {})

minimum := object.get(settings, "rds_backup_retention_days", 7)

days := object.get(input, ["configuration", "backupRetentionPeriod"], null)

named(field) if {
	v := object.get(input, ["configuration", field], "")
	is_string(v)
	v != ""
}

# An Aurora cluster member's retention is the cluster's; a read replica's backups are its source's
# (`readReplicaSourceDBInstanceIdentifier` is AWS Config's field; FSBP RDS.11 skips replicas too).
skipped if named("dBClusterIdentifier")

skipped if named("readReplicaSourceDBInstanceIdentifier")

violations contains msg if {
	not skipped
	days == 0
	msg := sprintf("automated backups are off (backup retention period 0); at least %d days are required", [minimum])
}

violations contains msg if {
	not skipped
	is_number(days)
	days > 0
	days < minimum
	msg := sprintf("automated backups are kept %s, fewer than the required %d", [days_text(days), minimum])
}

days_text(n) := "1 day" if n == 1

days_text(n) := sprintf("%d days", [n]) if n != 1
