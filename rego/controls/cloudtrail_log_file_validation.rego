# CloudTrail trails write digest files so a changed or deleted log file is detectable (FSBP CloudTrail.4, CIS 3.2).
package custos.controls.cloudtrail_log_file_validation

metadata := {
	"id": "cloudtrail-log-file-validation",
	"title": "CloudTrail trail validates its log files",
	"severity": "medium",
	"resource_types": ["AWS::CloudTrail::Trail"],
	"frameworks": {
		"aws-fsbp": ["CloudTrail.4"],
		"fedramp-moderate": ["AU-9"],
		"cmmc-2.0-l2": ["AU.L2-3.3.8"],
		"cis-aws-foundations-v3.0": ["3.2"],
		"nist-800-53-r5": ["AU-9", "SI-7"],
		"nist-800-171-r2": ["3.3.8"],
	},
	"remediation": "cloudtrail-enable-log-file-validation",
	"class": "auto",
	"terraform": `resource "aws_cloudtrail" "this" {
  name                       = "{resource_name}"
  enable_log_file_validation = true
  # ... the rest of the trail's configuration as it is
}
`,
}

settings := object.get(data, ["custos", "config", "settings"], {})

violations contains "log file validation is off" if {
	object.get(input, ["configuration", "logFileValidationEnabled"], false) != true
}
