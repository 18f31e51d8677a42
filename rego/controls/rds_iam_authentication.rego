# RDS DB instance of MySQL, MariaDB, PostgreSQL or Aurora accepts IAM database authentication (FSBP RDS.10). Alert-only:
# the flag alone changes nothing; the benefit comes from database users mapped to IAM, `rds-db:connect` grants and
# clients that use tokens, work in the database and the applications that a person does.
package custos.controls.rds_iam_authentication

metadata := {
	"id": "rds-iam-authentication",
	"title": "RDS DB instance has IAM database authentication enabled",
	"severity": "medium",
	"resource_types": ["AWS::RDS::DBInstance"],
	"frameworks": {
		"aws-fsbp": ["RDS.10"],
		"fedramp-moderate": ["AC-2(1)", "AC-3", "AC-6"],
		"cmmc-2.0-l2": ["AC.L2-3.1.1", "AC.L2-3.1.2"],
		"cis-aws-foundations-v3.0": [],
		"nist-800-53-r5": ["AC-2(1)", "AC-3", "AC-3(15)", "AC-3(7)", "AC-6"],
		"nist-800-171-r2": ["3.1.1", "3.1.2"],
	},
	"class": "alert",
	"guidance": "Turn IAM database authentication on (no restart; for a member of an Aurora cluster it is set on the cluster: `aws rds modify-db-cluster --db-cluster-identifier <cluster-identifier> --enable-iam-database-authentication --apply-immediately`), then create database users that authenticate with IAM (MySQL/MariaDB: `CREATE USER app IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'`; PostgreSQL: `GRANT rds_iam TO app`), grant `rds-db:connect` on `arn:aws:rds-db:{region}:{account}:dbuser:{resource_id}/<db-user>` to the roles that connect, and move clients to `generate-db-auth-token`. Those steps are in the database and the applications, so custos leaves them to a person.",
	"cli": [
		"aws rds modify-db-instance --region {region} --db-instance-identifier {resource_name} --enable-iam-database-authentication --apply-immediately",
		"aws rds generate-db-auth-token --region {region} --hostname <endpoint-address> --port <port> --username <db-user>",
	],
	"terraform": `resource "aws_db_instance" "this" {
  identifier                          = "{resource_name}"
  iam_database_authentication_enabled = true
}
# Aurora: set iam_database_authentication_enabled on the aws_rds_cluster instead.
`,
}

engine_raw := object.get(input, ["configuration", "engine"], "")

engine := lower(engine_raw) if is_string(engine_raw)

applies if engine in {"mysql", "mariadb", "postgres"}

applies if startswith(engine, "aurora")

cluster := object.get(input, ["configuration", "dBClusterIdentifier"], "")

in_cluster if {
	is_string(cluster)
	cluster != ""
}

off if object.get(input, ["configuration", "iAMDatabaseAuthenticationEnabled"], false) != true

violations contains msg if {
	applies
	off
	not in_cluster
	msg := sprintf("IAM database authentication is off (engine `%s`)", [engine])
}

violations contains msg if {
	applies
	off
	in_cluster
	msg := sprintf("IAM database authentication is off (engine `%s`; set it on cluster `%s`)", [engine, cluster])
}
