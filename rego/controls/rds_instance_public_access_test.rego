package custos.controls.rds_instance_public_access_test

import data.custos.controls.rds_instance_public_access as ctl

db(cfg) := {"resourceType": "AWS::RDS::DBInstance", "resourceId": "db-ABC", "resourceName": "orders", "configuration": object.union({"dBInstanceIdentifier": "orders", "engine": "postgres"}, cfg)}

test_private_instance_passes if {
	count(ctl.violations) == 0 with input as db({"publiclyAccessible": false})
}

test_public_instance_fails if {
	ctl.violations == {"the instance is publicly accessible: its endpoint resolves to a public IP address"} with input as db({"publiclyAccessible": true})
}

test_absent_flag_passes if {
	count(ctl.violations) == 0 with input as db({})
}

test_empty_input_passes if {
	count(ctl.violations) == 0 with input as {}
}
