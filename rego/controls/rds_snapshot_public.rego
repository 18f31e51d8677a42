# RDS DB snapshot is not public (FSBP RDS.1): `all` among the values of its `restore` attribute lets any AWS account
# restore it, data included.
package custos.controls.rds_snapshot_public

metadata := {
	"id": "rds-snapshot-public",
	"title": "RDS DB snapshot is not public",
	"severity": "critical",
	"resource_types": ["AWS::RDS::DBSnapshot"],
	"frameworks": {
		"aws-fsbp": ["RDS.1"],
		"fedramp-moderate": ["AC-21", "AC-3", "AC-4", "AC-4(21)", "AC-6", "SC-7", "SC-7(3)", "SC-7(4)"],
		"cmmc-2.0-l2": ["AC.L2-3.1.1", "AC.L2-3.1.3", "AC.L2-3.1.22", "SC.L2-3.13.1"],
		"cis-aws-foundations-v3.0": [],
		"nist-800-53-r5": ["AC-21", "AC-3", "AC-3(7)", "AC-4", "AC-4(21)", "AC-6", "SC-7", "SC-7(11)", "SC-7(16)", "SC-7(20)", "SC-7(21)", "SC-7(3)", "SC-7(4)", "SC-7(9)"],
		"nist-800-171-r2": ["3.1.1", "3.1.3", "3.1.22", "3.13.1"],
	},
	"remediation": "rds-make-snapshot-private",
	"class": "auto",
	"terraform": `resource "aws_db_snapshot" "this" {
  db_instance_identifier = "<db-instance-identifier>"
  db_snapshot_identifier = "{resource_id}"
  shared_accounts        = [] # account ids to share with, never "all"
}
# a copy (aws_db_snapshot_copy) takes the same shared_accounts
`,
}

attributes := object.get(input, ["supplementaryConfiguration", "DBSnapshotAttributes"], [])

restore_values contains v if {
	is_array(attributes)
	some a in attributes
	is_object(a)
	object.get(a, "attributeName", "") == "restore"
	values := object.get(a, "attributeValues", [])
	is_array(values)
	some v in values
}

violations contains "the snapshot is public: its `restore` attribute includes `all`, so any AWS account can restore it" if {
	some v in restore_values
	is_string(v)
	lower(v) == "all"
}
