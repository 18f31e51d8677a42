package custos.controls.cloudtrail_log_file_validation_test

import data.custos.controls.cloudtrail_log_file_validation as ctl

trail(on) := {"resourceType": "AWS::CloudTrail::Trail", "configuration": {"name": "t", "logFileValidationEnabled": on}}

test_validating_passes if {
	count(ctl.violations) == 0 with input as trail(true)
}

test_not_validating_fails if {
	ctl.violations == {"log file validation is off"} with input as trail(false)
}
