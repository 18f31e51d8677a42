# RDS DB instance applies minor engine versions automatically in its maintenance window (FSBP RDS.13, CIS 2.3.2).
package custos.controls.rds_auto_minor_version_upgrade

metadata := {
	"id": "rds-auto-minor-version-upgrade",
	"title": "RDS DB instance has automatic minor version upgrades enabled",
	"severity": "high",
	"resource_types": ["AWS::RDS::DBInstance"],
	"frameworks": {
		"aws-fsbp": ["RDS.13"],
		"fedramp-moderate": ["SI-2", "SI-2(2)"],
		"cmmc-2.0-l2": ["SI.L2-3.14.1"],
		"cis-aws-foundations-v3.0": ["2.3.2"],
		"nist-800-53-r5": ["SI-2", "SI-2(2)", "SI-2(4)", "SI-2(5)"],
		"nist-800-171-r2": ["3.14.1"],
	},
	"remediation": "rds-enable-auto-minor-version-upgrade",
	"class": "auto",
	"terraform": `resource "aws_db_instance" "this" {
  identifier                 = "{resource_name}"
  auto_minor_version_upgrade = true
  # ... the rest of the instance's configuration as it is
}
`,
}

violations contains "automatic minor version upgrades are off: engine security fixes are not applied" if {
	object.get(input, ["configuration", "autoMinorVersionUpgrade"], false) != true
}
