package custos.controls.rds_iam_authentication_test

import data.custos.controls.rds_iam_authentication as ctl

db(cfg) := {"resourceType": "AWS::RDS::DBInstance", "resourceId": "db-ABC", "resourceName": "orders", "configuration": object.union({"dBInstanceIdentifier": "orders"}, cfg)}

test_iam_auth_on_passes if {
	count(ctl.violations) == 0 with input as db({"engine": "postgres", "iAMDatabaseAuthenticationEnabled": true})
}

test_postgres_without_iam_auth_fails if {
	ctl.violations == {"IAM database authentication is off (engine `postgres`)"} with input as db({"engine": "postgres", "iAMDatabaseAuthenticationEnabled": false})
}

test_mysql_without_iam_auth_fails if {
	ctl.violations == {"IAM database authentication is off (engine `mysql`)"} with input as db({"engine": "mysql"})
}

test_mariadb_without_iam_auth_fails if {
	ctl.violations == {"IAM database authentication is off (engine `mariadb`)"} with input as db({"engine": "mariadb", "iAMDatabaseAuthenticationEnabled": false})
}

test_aurora_member_fails_naming_the_cluster if {
	ctl.violations == {"IAM database authentication is off (engine `aurora-postgresql`; set it on cluster `orders-cluster`)"} with input as db({"engine": "aurora-postgresql", "iAMDatabaseAuthenticationEnabled": false, "dBClusterIdentifier": "orders-cluster"})
}

test_oracle_is_out_of_scope_passes if {
	count(ctl.violations) == 0 with input as db({"engine": "oracle-ee", "iAMDatabaseAuthenticationEnabled": false})
}

test_sqlserver_is_out_of_scope_passes if {
	count(ctl.violations) == 0 with input as db({"engine": "sqlserver-se", "iAMDatabaseAuthenticationEnabled": false})
}

test_absent_engine_passes if {
	count(ctl.violations) == 0 with input as db({"iAMDatabaseAuthenticationEnabled": false})
}

test_non_string_engine_passes if {
	count(ctl.violations) == 0 with input as db({"engine": 5})
}

test_empty_input_passes if {
	count(ctl.violations) == 0 with input as {}
}
