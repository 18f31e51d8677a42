package custos.controls.rds_multi_az_test

import data.custos.controls.rds_multi_az as ctl

db(cfg) := {"resourceType": "AWS::RDS::DBInstance", "resourceId": "db-ABC", "resourceName": "orders", "configuration": object.union({"dBInstanceIdentifier": "orders", "engine": "postgres"}, cfg)}

test_multi_az_passes if {
	count(ctl.violations) == 0 with input as db({"multiAZ": true})
}

test_single_az_fails if {
	ctl.violations == {"the instance runs in a single Availability Zone (Multi-AZ is off)"} with input as db({"multiAZ": false})
}

test_cluster_member_is_skipped_passes if {
	count(ctl.violations) == 0 with input as db({"multiAZ": false, "engine": "aurora-postgresql", "dBClusterIdentifier": "orders-cluster"})
}

test_absent_flag_fails if {
	count(ctl.violations) == 1 with input as db({})
}

test_empty_input_does_not_error if {
	count(ctl.violations) == 1 with input as {}
}
