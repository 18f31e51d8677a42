package custos.controls.iam_root_mfa_test

import data.custos.controls.iam_root_mfa as ctl

account(cfg) := {"resourceType": "Custos::IAM::Account", "resourceId": "123456789012", "awsRegion": "global", "configuration": cfg}

test_root_mfa_passes if {
	count(ctl.violations) == 0 with input as account({"AccountSummary": {"AccountMFAEnabled": 1, "AccountAccessKeysPresent": 0}, "Unread": []})
}

test_no_root_mfa_fails if {
	ctl.violations == {"the root user has no MFA device"} with input as account({"AccountSummary": {"AccountMFAEnabled": 0, "AccountAccessKeysPresent": 0}, "Unread": []})
}

test_unread_summary_fails_as_unknown if {
	ctl.violations == {"the account summary could not be read (`iam:GetAccountSummary`: Throttling), so whether the root user has MFA is unknown"} with input as account({"Unread": [{"action": "iam:GetAccountSummary", "message": "Throttling"}]})
}

test_absent_summary_fails_as_unknown if {
	ctl.violations == {"the account summary was not read, so whether the root user has MFA is unknown"} with input as account({"AccountSummary": null})
}

test_summary_without_the_key_fails_as_unknown if {
	ctl.violations == {"the account summary has no `AccountMFAEnabled`, so whether the root user has MFA is unknown"} with input as account({"AccountSummary": {}})
}

test_empty_input_does_not_error if {
	ctl.violations == {"the account summary was not read, so whether the root user has MFA is unknown"} with input as {}
}
