# CloudWatch log groups keep events at least `[controls] log_retention_days` (365 by default).
package custos.controls.logs_retention

metadata := {
	"id": "logs-retention",
	"title": "CloudWatch log group keeps events for the configured minimum",
	"severity": "low",
	"resource_types": ["AWS::Logs::LogGroup"],
	"frameworks": {
		"aws-fsbp": ["CloudWatch.16"],
		"fedramp-moderate": ["AU-11"],
		"cmmc-2.0-l2": ["AU.L2-3.3.1"],
		"cis-aws-foundations-v3.0": [],
		"nist-800-53-r5": ["AU-11", "SI-12"],
		"nist-800-171-r2": ["3.3.1"],
	},
	"remediation": "logs-set-retention",
	"class": "auto",
	"terraform": `resource "aws_cloudwatch_log_group" "this" {
  name              = "{resource_name}"
  retention_in_days = "<retention-days>" # at least [controls] log_retention_days
  # ... the rest of the log group's configuration as it is
}
`,
}

settings := object.get(data, ["custos", "config", "settings"], {})

minimum := object.get(settings, "log_retention_days", 365)

# No retention policy: events never expire, which keeps more than the minimum.
violations contains msg if {
	days := input.configuration.retentionInDays
	days < minimum
	msg := sprintf("events are kept %d days, fewer than the required %d", [days, minimum])
}
