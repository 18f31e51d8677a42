# RDS DB instance copies its tags to its snapshots (FSBP RDS.17), so that snapshots keep the owner, classification and
# cost tags of their instance. Members of an Aurora cluster are skipped: the setting is the cluster's.
package custos.controls.rds_copy_tags_to_snapshots

metadata := {
	"id": "rds-copy-tags-to-snapshots",
	"title": "RDS DB instance copies its tags to snapshots",
	"severity": "low",
	"resource_types": ["AWS::RDS::DBInstance"],
	"frameworks": {
		"aws-fsbp": ["RDS.17"],
		"fedramp-moderate": ["CM-2", "CM-2(2)"],
		"cmmc-2.0-l2": ["CM.L2-3.4.1"],
		"cis-aws-foundations-v3.0": [],
		"nist-800-53-r5": ["CA-9(1)", "CM-2", "CM-2(2)"],
		"nist-800-171-r2": ["3.4.1"],
	},
	"remediation": "rds-enable-copy-tags-to-snapshot",
	"class": "auto",
	"terraform": `resource "aws_db_instance" "this" {
  identifier            = "{resource_name}"
  copy_tags_to_snapshot = true
  # ... the rest of the instance's configuration as it is
}
`,
}

cluster := object.get(input, ["configuration", "dBClusterIdentifier"], "")

in_cluster if {
	is_string(cluster)
	cluster != ""
}

violations contains "the instance does not copy its tags to its snapshots" if {
	not in_cluster
	object.get(input, ["configuration", "copyTagsToSnapshot"], false) != true
}
