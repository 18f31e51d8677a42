package custos.controls.rds_copy_tags_to_snapshots_test

import data.custos.controls.rds_copy_tags_to_snapshots as ctl

db(cfg) := {"resourceType": "AWS::RDS::DBInstance", "resourceId": "db-ABC", "resourceName": "orders", "configuration": object.union({"dBInstanceIdentifier": "orders", "engine": "mariadb"}, cfg)}

test_copying_tags_passes if {
	count(ctl.violations) == 0 with input as db({"copyTagsToSnapshot": true})
}

test_not_copying_tags_fails if {
	ctl.violations == {"the instance does not copy its tags to its snapshots"} with input as db({"copyTagsToSnapshot": false})
}

test_cluster_member_is_skipped_passes if {
	count(ctl.violations) == 0 with input as db({"copyTagsToSnapshot": false, "engine": "aurora-mysql", "dBClusterIdentifier": "orders-cluster"})
}

test_absent_flag_fails if {
	ctl.violations == {"the instance does not copy its tags to its snapshots"} with input as db({})
}

test_empty_input_does_not_error if {
	count(ctl.violations) == 1 with input as {}
}
