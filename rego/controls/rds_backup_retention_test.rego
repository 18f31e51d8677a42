package custos.controls.rds_backup_retention_test

import data.custos.controls.rds_backup_retention as ctl

db(cfg) := {"resourceType": "AWS::RDS::DBInstance", "resourceId": "db-ABC", "resourceName": "orders", "configuration": object.union({"dBInstanceIdentifier": "orders", "engine": "postgres"}, cfg)}

test_seven_days_passes if {
	count(ctl.violations) == 0 with input as db({"backupRetentionPeriod": 7}) with data.custos.config.settings as {}
}

test_thirty_five_days_passes if {
	count(ctl.violations) == 0 with input as db({"backupRetentionPeriod": 35}) with data.custos.config.settings as {}
}

test_backups_off_fails if {
	ctl.violations == {"automated backups are off (backup retention period 0); at least 7 days are required"} with input as db({"backupRetentionPeriod": 0}) with data.custos.config.settings as {}
}

test_short_retention_fails if {
	ctl.violations == {"automated backups are kept 3 days, fewer than the required 7"} with input as db({"backupRetentionPeriod": 3}) with data.custos.config.settings as {}
}

test_configured_minimum_fails if {
	ctl.violations == {"automated backups are kept 7 days, fewer than the required 14"} with input as db({"backupRetentionPeriod": 7})
		with data.custos.config.settings.rds_backup_retention_days as 14
}

test_configured_minimum_met_passes if {
	count(ctl.violations) == 0 with input as db({"backupRetentionPeriod": 3})
		with data.custos.config.settings as {"rds_backup_retention_days": 1}
}

test_cluster_member_is_skipped_passes if {
	count(ctl.violations) == 0 with input as db({"backupRetentionPeriod": 1, "engine": "aurora-mysql", "dBClusterIdentifier": "orders-cluster"})
}

test_empty_cluster_identifier_still_fails if {
	ctl.violations == {"automated backups are kept 1 day, fewer than the required 7"} with input as db({"backupRetentionPeriod": 1, "dBClusterIdentifier": ""}) with data.custos.config.settings as {}
}

test_read_replica_is_skipped_passes if {
	count(ctl.violations) == 0 with input as db({"backupRetentionPeriod": 0, "readReplicaSourceDBInstanceIdentifier": "orders-primary"})
}

test_absent_retention_says_nothing_passes if {
	count(ctl.violations) == 0 with input as db({})
}

test_empty_input_passes if {
	count(ctl.violations) == 0 with input as {}
}
