package custos.controls.cloudtrail_management_events_test

import data.custos.controls.cloudtrail_management_events as ctl

trail(sel) := {"resourceType": "AWS::CloudTrail::Trail", "configuration": {"name": "t"}, "supplementaryConfiguration": {"EventSelectors": {"eventSelectors": sel, "advancedEventSelectors": 0}}}

test_all_management_passes if {
	count(ctl.violations) == 0 with input as trail([{"readWriteType": "All", "includeManagementEvents": true}])
}

test_advanced_selectors_passes if {
	count(ctl.violations) == 0 with input as {"resourceType": "AWS::CloudTrail::Trail", "supplementaryConfiguration": {"EventSelectors": {"eventSelectors": [], "advancedEventSelectors": 2}}}
}

test_write_only_fails if {
	count(ctl.violations) == 1 with input as trail([{"readWriteType": "WriteOnly", "includeManagementEvents": true}])
}
