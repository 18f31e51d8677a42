# RDS DB instance has deletion protection on (FSBP RDS.8). Members of an Aurora cluster are skipped: deletion
# protection is the cluster's. Human: with it on, tooling that deletes the instance (test environments, IaC
# replacements) fails until someone turns it off, so each change needs an approval.
package custos.controls.rds_deletion_protection

metadata := {
	"id": "rds-deletion-protection",
	"title": "RDS DB instance has deletion protection enabled",
	"severity": "medium",
	"resource_types": ["AWS::RDS::DBInstance"],
	"frameworks": {
		"aws-fsbp": ["RDS.8"],
		"fedramp-moderate": ["CM-3"],
		"cmmc-2.0-l2": ["CM.L2-3.4.3"],
		"cis-aws-foundations-v3.0": [],
		"nist-800-53-r5": ["CM-3", "SC-5(2)", "SI-13(5)"],
		"nist-800-171-r2": ["3.4.3"],
	},
	"remediation": "rds-enable-deletion-protection",
	"class": "human",
	"terraform": `resource "aws_db_instance" "this" {
  identifier          = "{resource_name}"
  deletion_protection = true
  # ... the rest of the instance's configuration as it is
}
`,
}

cluster := object.get(input, ["configuration", "dBClusterIdentifier"], "")

in_cluster if {
	is_string(cluster)
	cluster != ""
}

violations contains "deletion protection is off: one API call can delete the instance" if {
	not in_cluster
	object.get(input, ["configuration", "deletionProtection"], false) != true
}
