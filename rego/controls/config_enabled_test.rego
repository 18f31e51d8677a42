package custos.controls.config_enabled_test

import data.custos.controls.config_enabled as ctl

account(recorders) := {"resourceType": "AWS::::Account", "configuration": {"ebsEncryptionByDefault": true}, "supplementaryConfiguration": {"ConfigurationRecorders": recorders}}

test_a_recorder_passes if {
	count(ctl.violations) == 0 with input as account([{"name": "default", "recording": true}])
}

test_a_stopped_recorder_is_another_control if {
	count(ctl.violations) == 0 with input as account([{"name": "default", "recording": false}])
}

test_no_recorder_fails if {
	ctl.violations == {"the region has no AWS Config recorder"} with input as account([])
}

test_unread_recorders_say_nothing if {
	count(ctl.violations) == 0 with input as {"resourceType": "AWS::::Account", "configuration": {}, "supplementaryConfiguration": {}}
}

test_an_unread_list_is_a_finding if {
	ctl.violations == {"the region's recorders could not be read (`config:DescribeConfigurationRecorders`: AccessDenied), so Config.1 is unknown"} with input as {"resourceType": "AWS::::Account", "configuration": {}, "supplementaryConfiguration": {"Unread": [{"action": "config:DescribeConfigurationRecorders", "message": "AccessDenied"}]}}
}
