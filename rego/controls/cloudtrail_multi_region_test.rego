package custos.controls.cloudtrail_multi_region_test

import data.custos.controls.cloudtrail_multi_region as ctl

trail(multi, global) := {"resourceType": "AWS::CloudTrail::Trail", "configuration": {"name": "t", "isMultiRegionTrail": multi, "includeGlobalServiceEvents": global}}

test_all_regions_passes if {
	count(ctl.violations) == 0 with input as trail(true, true)
}

test_one_region_fails if {
	ctl.violations == {"the trail records one region only"} with input as trail(false, true)
}

test_no_global_events_fails if {
	ctl.violations == {"the trail leaves out global service events"} with input as trail(true, false)
}
