package custos.controls.cloudtrail_logging_test

import data.custos.controls.cloudtrail_logging as ctl

test_logging_passes if {
	count(ctl.violations) == 0 with input as {"resourceType": "AWS::CloudTrail::Trail", "configuration": {"name": "t"}, "supplementaryConfiguration": {"TrailStatus": {"isLogging": true}}}
}

test_unknown_status_passes if {
	count(ctl.violations) == 0 with input as {"resourceType": "AWS::CloudTrail::Trail", "configuration": {"name": "t"}, "supplementaryConfiguration": {}}
}

test_stopped_fails if {
	ctl.violations == {"the trail is not logging"} with input as {"resourceType": "AWS::CloudTrail::Trail", "configuration": {"name": "t"}, "supplementaryConfiguration": {"TrailStatus": {"isLogging": false}}}
}
