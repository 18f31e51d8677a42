package custos.controls.rds_auto_minor_version_upgrade_test

import data.custos.controls.rds_auto_minor_version_upgrade as ctl

db(cfg) := {"resourceType": "AWS::RDS::DBInstance", "resourceId": "db-ABC", "resourceName": "orders", "configuration": object.union({"dBInstanceIdentifier": "orders", "engine": "postgres"}, cfg)}

test_upgrades_on_passes if {
	count(ctl.violations) == 0 with input as db({"autoMinorVersionUpgrade": true})
}

test_upgrades_off_fails if {
	ctl.violations == {"automatic minor version upgrades are off: engine security fixes are not applied"} with input as db({"autoMinorVersionUpgrade": false})
}

test_cluster_member_is_checked_fails if {
	ctl.violations == {"automatic minor version upgrades are off: engine security fixes are not applied"} with input as db({"autoMinorVersionUpgrade": false, "engine": "aurora-postgresql", "dBClusterIdentifier": "c"})
}

test_absent_flag_fails if {
	count(ctl.violations) == 1 with input as db({})
}

test_empty_input_does_not_error if {
	count(ctl.violations) == 1 with input as {}
}
