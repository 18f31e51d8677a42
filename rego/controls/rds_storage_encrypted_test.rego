package custos.controls.rds_storage_encrypted_test

import data.custos.controls.rds_storage_encrypted as ctl

db(cfg) := {"resourceType": "AWS::RDS::DBInstance", "resourceId": "db-ABC", "resourceName": "orders", "configuration": object.union({"dBInstanceIdentifier": "orders", "engine": "postgres"}, cfg)}

test_encrypted_instance_passes if {
	count(ctl.violations) == 0 with input as db({"storageEncrypted": true})
}

test_unencrypted_instance_fails if {
	ctl.violations == {"the instance's storage is not encrypted at rest"} with input as db({"storageEncrypted": false})
}

test_absent_flag_fails if {
	ctl.violations == {"the instance's storage is not encrypted at rest"} with input as db({})
}

test_unencrypted_cluster_member_fails_naming_the_cluster if {
	ctl.violations == {"the instance's storage is not encrypted at rest (it belongs to Aurora cluster `orders-cluster`, which is encrypted or not as a whole)"} with input as db({"storageEncrypted": false, "engine": "aurora-postgresql", "dBClusterIdentifier": "orders-cluster"})
}

test_empty_input_does_not_error if {
	ctl.violations == {"the instance's storage is not encrypted at rest"} with input as {}
}
