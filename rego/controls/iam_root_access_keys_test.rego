package custos.controls.iam_root_access_keys_test

import data.custos.controls.iam_root_access_keys as ctl

account(cfg) := {"resourceType": "Custos::IAM::Account", "resourceId": "123456789012", "awsRegion": "global", "configuration": cfg}

test_no_root_keys_passes if {
	count(ctl.violations) == 0 with input as account({"AccountSummary": {"AccountMFAEnabled": 1, "AccountAccessKeysPresent": 0}, "Unread": []})
}

test_root_keys_fail if {
	ctl.violations == {"the root user has an access key"} with input as account({"AccountSummary": {"AccountMFAEnabled": 1, "AccountAccessKeysPresent": 1}, "Unread": []})
}

test_unread_summary_fails_as_unknown if {
	ctl.violations == {"the account summary could not be read (`iam:GetAccountSummary`: AccessDenied: not authorized), so whether the root user has an access key is unknown"} with input as account({"PasswordPolicy": null, "Unread": [{"action": "iam:GetAccountSummary", "message": "AccessDenied: not authorized"}]})
}

test_another_unread_read_is_not_this_controls_passes if {
	count(ctl.violations) == 0 with input as account({"AccountSummary": {"AccountAccessKeysPresent": 0}, "Unread": [{"action": "iam:GetAccountPasswordPolicy", "message": "AccessDenied"}]})
}

test_absent_summary_fails_as_unknown if {
	ctl.violations == {"the account summary was not read, so whether the root user has an access key is unknown"} with input as account({"Unread": []})
}

test_summary_without_the_key_fails_as_unknown if {
	ctl.violations == {"the account summary has no `AccountAccessKeysPresent`, so whether the root user has an access key is unknown"} with input as account({"AccountSummary": {"Users": 3}})
}

test_empty_input_does_not_error if {
	ctl.violations == {"the account summary was not read, so whether the root user has an access key is unknown"} with input as {}
}
