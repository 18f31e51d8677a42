# RDS DB instance is not publicly accessible (FSBP RDS.2, CIS 2.3.3): a publicly accessible instance has a DNS name that
# resolves to a public address. Human: turning it off cuts off every client that reaches the database from outside its
# VPC, so each change needs an approval.
package custos.controls.rds_instance_public_access

metadata := {
	"id": "rds-instance-public-access",
	"title": "RDS DB instance is not publicly accessible",
	"severity": "critical",
	"resource_types": ["AWS::RDS::DBInstance"],
	"frameworks": {
		"aws-fsbp": ["RDS.2"],
		"fedramp-moderate": ["AC-4", "AC-4(21)", "SC-7", "SC-7(4)", "SC-7(5)"],
		"cmmc-2.0-l2": ["AC.L2-3.1.1", "AC.L2-3.1.3", "SC.L2-3.13.1"],
		"cis-aws-foundations-v3.0": ["2.3.3"],
		"nist-800-53-r5": ["AC-4", "AC-4(21)", "SC-7", "SC-7(11)", "SC-7(16)", "SC-7(21)", "SC-7(4)", "SC-7(5)"],
		"nist-800-171-r2": ["3.1.1", "3.1.3", "3.13.1"],
	},
	"remediation": "rds-disable-public-access",
	"class": "human",
	"terraform": `resource "aws_db_instance" "this" {
  identifier          = "{resource_name}"
  publicly_accessible = false
  # ... the rest of the instance's configuration as it is
}
`,
}

violations contains "the instance is publicly accessible: its endpoint resolves to a public IP address" if {
	object.get(input, ["configuration", "publiclyAccessible"], false) == true
}
