package custos.controls.iam_access_key_rotation_test

import data.custos.controls.iam_access_key_rotation as ctl

user(keys) := {"resourceType": "AWS::IAM::User", "resourceId": "AIDAEXAMPLE", "resourceName": "ci", "awsRegion": "global", "configurationItemCaptureTime": "2024-06-01T00:00:00.000Z", "configuration": {"userName": "ci"}, "supplementaryConfiguration": {"Credentials": {"passwordEnabled": false, "mfaActive": false, "accessKeys": keys}}}

key(id, status, created) := {"accessKeyId": id, "status": status, "createDate": created, "lastUsedDate": "2024-05-31T00:00:00Z"}

test_young_key_passes if {
	count(ctl.violations) == 0 with input as user([key("AKIANEW", "Active", "2024-05-01T00:00:00Z")]) with data.custos.config.settings as {}
}

test_ninety_day_old_key_passes if {
	count(ctl.violations) == 0 with input as user([key("AKIAEDGE", "Active", "2024-03-03T00:00:00Z")]) with data.custos.config.settings as {}
}

test_old_key_fails if {
	ctl.violations == {"active access key AKIAOLD was created 152 days ago, more than the allowed 90"} with input as user([key("AKIAOLD", "Active", "2024-01-01T00:00:00Z")]) with data.custos.config.settings as {}
}

test_one_message_per_old_key_fails if {
	ctl.violations == {
		"active access key AKIAONE was created 152 days ago, more than the allowed 90",
		"active access key AKIATWO was created 91 days ago, more than the allowed 90",
	} with input as user([key("AKIAONE", "Active", "2024-01-01T00:00:00Z"), key("AKIATWO", "Active", "2024-03-02T00:00:00Z"), key("AKIAOFF", "Inactive", "2020-01-01T00:00:00Z")]) with data.custos.config.settings as {}
}

test_inactive_old_key_passes if {
	count(ctl.violations) == 0 with input as user([key("AKIAOFF", "Inactive", "2020-01-01T00:00:00Z")])
}

test_offset_timestamps_fail if {
	ctl.violations == {"active access key AKIAOLD was created 152 days ago, more than the allowed 90"} with input as user([key("AKIAOLD", "Active", "2024-01-01T01:00:00+01:00")]) with data.custos.config.settings as {}
}

test_configured_maximum_fails if {
	ctl.violations == {"active access key AKIANEW was created 31 days ago, more than the allowed 30"} with input as user([key("AKIANEW", "Active", "2024-05-01T00:00:00Z")])
		with data.custos.config.settings.access_key_max_age_days as 30
}

test_configured_maximum_met_passes if {
	count(ctl.violations) == 0 with input as user([key("AKIAOLD", "Active", "2024-01-01T00:00:00Z")])
		with data.custos.config.settings as {"access_key_max_age_days": 365}
}

test_without_capture_time_says_nothing_passes if {
	count(ctl.violations) == 0 with input as object.remove(user([key("AKIAOLD", "Active", "2020-01-01T00:00:00Z")]), ["configurationItemCaptureTime"])
}

test_absent_create_date_says_nothing_passes if {
	count(ctl.violations) == 0 with input as user([{"accessKeyId": "AKIAX", "status": "Active"}])
}

test_unread_credentials_say_nothing_passes if {
	count(ctl.violations) == 0 with input as {"resourceType": "AWS::IAM::User", "configurationItemCaptureTime": "2024-06-01T00:00:00Z"}
}

test_empty_input_passes if {
	count(ctl.violations) == 0 with input as {}
}
