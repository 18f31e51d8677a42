package custos.controls.iam_access_key_unused_test

import data.custos.controls.iam_access_key_unused as ctl

user(keys) := {"resourceType": "AWS::IAM::User", "resourceId": "AIDAEXAMPLE", "resourceName": "ci", "awsRegion": "global", "configurationItemCaptureTime": "2024-06-01T00:00:00.000Z", "configuration": {"userName": "ci"}, "supplementaryConfiguration": {"Credentials": {"passwordEnabled": false, "mfaActive": false, "accessKeys": keys}}}

key(id, status, created, used) := {"accessKeyId": id, "status": status, "createDate": created, "lastUsedDate": used}

test_recently_used_key_passes if {
	count(ctl.violations) == 0 with input as user([key("AKIAOLD", "Active", "2020-01-01T00:00:00Z", "2024-05-20T08:00:00Z")]) with data.custos.config.settings as {}
}

test_new_unused_key_passes if {
	count(ctl.violations) == 0 with input as user([key("AKIANEW", "Active", "2024-05-01T00:00:00Z", null)]) with data.custos.config.settings as {}
}

test_exactly_ninety_days_passes if {
	count(ctl.violations) == 0 with input as user([key("AKIAEDGE", "Active", "2020-01-01T00:00:00Z", "2024-03-03T00:00:00Z")]) with data.custos.config.settings as {}
}

# Durations are compared exactly, as the fix's executor compares them (a part of a day
# counts: the message rounds it up).
test_ninety_days_and_an_hour_fails if {
	ctl.violations == {"active access key AKIAEDGE has not been used for 91 days, more than the allowed 90"} with input as user([key("AKIAEDGE", "Active", "2020-01-01T00:00:00Z", "2024-03-02T23:00:00Z")]) with data.custos.config.settings as {}
}

test_unused_key_fails if {
	ctl.violations == {"active access key AKIAOLD has not been used for 152 days, more than the allowed 90"} with input as user([key("AKIAOLD", "Active", "2020-01-01T00:00:00Z", "2024-01-01T00:00:00Z")]) with data.custos.config.settings as {}
}

test_never_used_old_key_fails if {
	ctl.violations == {"active access key AKIANEVER has never been used and was created 152 days ago, more than the allowed 90"} with input as user([key("AKIANEVER", "Active", "2024-01-01T00:00:00Z", null)]) with data.custos.config.settings as {}
}

test_absent_last_use_counts_as_never_used_fails if {
	ctl.violations == {"active access key AKIANEVER has never been used and was created 152 days ago, more than the allowed 90"} with input as user([{"accessKeyId": "AKIANEVER", "status": "Active", "createDate": "2024-01-01T00:00:00Z"}]) with data.custos.config.settings as {}
}

test_one_message_per_key_fails if {
	ctl.violations == {
		"active access key AKIAONE has not been used for 152 days, more than the allowed 90",
		"active access key AKIATWO has never been used and was created 335 days ago, more than the allowed 90",
	} with input as user([
		key("AKIAONE", "Active", "2020-01-01T00:00:00Z", "2024-01-01T00:00:00Z"),
		key("AKIATWO", "Active", "2023-07-02T00:00:00Z", null),
		key("AKIAOK", "Active", "2020-01-01T00:00:00Z", "2024-05-31T00:00:00Z"),
	]) with data.custos.config.settings as {}
}

test_inactive_key_passes if {
	count(ctl.violations) == 0 with input as user([key("AKIAOFF", "Inactive", "2020-01-01T00:00:00Z", "2021-01-01T00:00:00Z")]) with data.custos.config.settings as {}
}

test_configured_maximum_fails if {
	ctl.violations == {"active access key AKIAOLD has not been used for 46 days, more than the allowed 45"} with input as user([key("AKIAOLD", "Active", "2020-01-01T00:00:00Z", "2024-04-16T00:00:00Z")])
		with data.custos.config.settings.access_key_max_unused_days as 45
}

test_configured_maximum_met_passes if {
	count(ctl.violations) == 0 with input as user([key("AKIAOLD", "Active", "2020-01-01T00:00:00Z", "2024-01-01T00:00:00Z")])
		with data.custos.config.settings as {"access_key_max_unused_days": 365}
}

test_without_capture_time_says_nothing_passes if {
	count(ctl.violations) == 0 with input as object.remove(user([key("AKIAOLD", "Active", "2020-01-01T00:00:00Z", "2021-01-01T00:00:00Z")]), ["configurationItemCaptureTime"])
}

test_unparseable_dates_say_nothing_passes if {
	count(ctl.violations) == 0 with input as user([key("AKIAOLD", "Active", "N/A", "yesterday")])
}

test_unread_credentials_say_nothing_passes if {
	count(ctl.violations) == 0 with input as {"resourceType": "AWS::IAM::User", "configurationItemCaptureTime": "2024-06-01T00:00:00Z", "supplementaryConfiguration": {}}
}

test_null_key_list_passes if {
	count(ctl.violations) == 0 with input as user(null)
}

test_empty_input_passes if {
	count(ctl.violations) == 0 with input as {}
}
