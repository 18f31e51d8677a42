# RDS DB instance runs as a Multi-AZ deployment (FSBP RDS.5). Members of an Aurora cluster are skipped: availability is
# the cluster's. Alert-only: Multi-AZ doubles the instance's cost, and converting takes a snapshot and adds I/O latency
# while the standby is built, so whether and when is a person's decision.
package custos.controls.rds_multi_az

metadata := {
	"id": "rds-multi-az",
	"title": "RDS DB instance is deployed in multiple Availability Zones",
	"severity": "medium",
	"resource_types": ["AWS::RDS::DBInstance"],
	"frameworks": {
		"aws-fsbp": ["RDS.5"],
		"fedramp-moderate": ["CP-10"],
		"cmmc-2.0-l2": [],
		"cis-aws-foundations-v3.0": [],
		"nist-800-53-r5": ["CP-10", "CP-6(2)", "SC-36", "SC-5(2)", "SI-13(5)"],
		"nist-800-171-r2": [],
	},
	"class": "alert",
	"guidance": "Convert the instance to Multi-AZ: RDS creates a standby in another Availability Zone from a snapshot and keeps it in sync; failover then takes a minute or two instead of a restore. It doubles the instance's cost and the conversion adds I/O latency while the standby is built, so choose the time: drop `--apply-immediately` to wait for the maintenance window. custos leaves the cost decision to a person. (SQL Server Express does not support Multi-AZ.)",
	"cli": ["aws rds modify-db-instance --region {region} --db-instance-identifier {resource_name} --multi-az --apply-immediately"],
	"terraform": `resource "aws_db_instance" "this" {
  identifier = "{resource_name}"
  multi_az   = true
  # apply_immediately = false waits for the maintenance window
}
`,
}

cluster := object.get(input, ["configuration", "dBClusterIdentifier"], "")

in_cluster if {
	is_string(cluster)
	cluster != ""
}

violations contains "the instance runs in a single Availability Zone (Multi-AZ is off)" if {
	not in_cluster
	object.get(input, ["configuration", "multiAZ"], false) != true
}
