package custos.controls.logs_retention_test

import data.custos.controls.logs_retention as ctl

group(days) := {"resourceType": "AWS::Logs::LogGroup", "configuration": {"logGroupName": "g", "retentionInDays": days}}

test_long_enough_passes if {
	count(ctl.violations) == 0 with input as group(400) with data.custos.config.settings as {}
}

test_never_expires_passes if {
	count(ctl.violations) == 0 with input as {"resourceType": "AWS::Logs::LogGroup", "configuration": {"logGroupName": "g"}}
}

test_short_fails if {
	ctl.violations == {"events are kept 7 days, fewer than the required 365"} with input as group(7) with data.custos.config.settings as {}
}

test_configured_minimum_fails if {
	ctl.violations == {"events are kept 90 days, fewer than the required 180"} with input as group(90)
		with data.custos.config.settings.log_retention_days as 180
}
