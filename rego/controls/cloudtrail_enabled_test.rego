package custos.controls.cloudtrail_enabled_test

import data.custos.controls.cloudtrail_enabled as ctl

account(trails) := {"resourceType": "AWS::::Account", "configuration": {"ebsEncryptionByDefault": true}, "supplementaryConfiguration": {"Trails": trails}}

complete := {"name": "org", "homeRegion": "us-east-1", "isMultiRegionTrail": true, "isLogging": true, "managementEvents": true}

test_a_complete_trail_passes if {
	count(ctl.violations) == 0 with input as account([complete])
}

test_a_complete_trail_among_others_passes if {
	count(ctl.violations) == 0 with input as account([object.union(complete, {"name": "regional", "isMultiRegionTrail": false}), complete])
}

test_no_trail_fails if {
	ctl.violations == {"no multi-region trail is logging every management event"} with input as account([])
}

test_a_stopped_trail_fails if {
	ctl.violations == {"no multi-region trail is logging every management event"} with input as account([object.union(complete, {"isLogging": false})])
}

test_a_single_region_trail_fails if {
	ctl.violations == {"no multi-region trail is logging every management event"} with input as account([object.union(complete, {"isMultiRegionTrail": false})])
}

test_a_trail_without_management_events_fails if {
	ctl.violations == {"no multi-region trail is logging every management event"} with input as account([object.union(complete, {"managementEvents": false})])
}

test_unread_trails_say_nothing if {
	count(ctl.violations) == 0 with input as {"resourceType": "AWS::::Account", "configuration": {}, "supplementaryConfiguration": {}}
}

test_an_organization_trail_whose_details_were_refused_raises_no_alarm if {
	count(ctl.violations) == 0 with input as account([object.union(complete, {"isOrganizationTrail": true, "isLogging": null, "managementEvents": null})])
}

test_an_unread_list_is_a_finding if {
	ctl.violations == {"the account's trails could not be read (`cloudtrail:DescribeTrails`: AccessDenied), so CloudTrail.1 is unknown"} with input as {"resourceType": "AWS::::Account", "configuration": {}, "supplementaryConfiguration": {"Unread": [{"action": "cloudtrail:DescribeTrails", "message": "AccessDenied"}]}}
}
