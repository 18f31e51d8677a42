package custos.controls.rds_deletion_protection_test

import data.custos.controls.rds_deletion_protection as ctl

db(cfg) := {"resourceType": "AWS::RDS::DBInstance", "resourceId": "db-ABC", "resourceName": "orders", "configuration": object.union({"dBInstanceIdentifier": "orders", "engine": "mysql"}, cfg)}

test_protected_instance_passes if {
	count(ctl.violations) == 0 with input as db({"deletionProtection": true})
}

test_unprotected_instance_fails if {
	ctl.violations == {"deletion protection is off: one API call can delete the instance"} with input as db({"deletionProtection": false})
}

test_absent_flag_fails if {
	ctl.violations == {"deletion protection is off: one API call can delete the instance"} with input as db({})
}

test_cluster_member_is_skipped_passes if {
	count(ctl.violations) == 0 with input as db({"deletionProtection": false, "engine": "aurora-mysql", "dBClusterIdentifier": "orders-cluster"})
}

test_empty_input_does_not_error if {
	ctl.violations == {"deletion protection is off: one API call can delete the instance"} with input as {}
}
