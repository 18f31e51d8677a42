package custos.controls.iam_user_console_mfa_test

import data.custos.controls.iam_user_console_mfa as ctl

user(creds) := {"resourceType": "AWS::IAM::User", "resourceId": "AIDAEXAMPLE", "resourceName": "alice", "awsRegion": "global", "configurationItemCaptureTime": "2024-06-01T00:00:00.000Z", "configuration": {"userName": "alice"}, "supplementaryConfiguration": {"Credentials": creds}}

test_password_with_mfa_passes if {
	count(ctl.violations) == 0 with input as user({"passwordEnabled": true, "passwordLastUsed": "2024-05-30T10:00:00Z", "mfaActive": true, "accessKeys": []})
}

test_no_password_passes if {
	count(ctl.violations) == 0 with input as user({"passwordEnabled": false, "passwordLastUsed": null, "mfaActive": false, "accessKeys": []})
}

test_password_without_mfa_fails if {
	ctl.violations == {"the user has a console password (last used 2024-05-30T10:00:00Z) and no MFA device"} with input as user({"passwordEnabled": true, "passwordLastUsed": "2024-05-30T10:00:00Z", "mfaActive": false, "accessKeys": []})
}

test_unused_password_without_mfa_fails if {
	ctl.violations == {"the user has a console password (never used) and no MFA device"} with input as user({"passwordEnabled": true, "passwordLastUsed": null, "mfaActive": false})
}

test_absent_mfa_flag_fails if {
	ctl.violations == {"the user has a console password (never used) and no MFA device"} with input as user({"passwordEnabled": true})
}

test_unread_credentials_say_nothing_passes if {
	count(ctl.violations) == 0 with input as {"resourceType": "AWS::IAM::User", "configuration": {"userName": "alice"}, "supplementaryConfiguration": {}}
}

test_null_credentials_say_nothing_passes if {
	count(ctl.violations) == 0 with input as user(null)
}

test_empty_input_passes if {
	count(ctl.violations) == 0 with input as {}
}
