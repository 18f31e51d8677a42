package custos.controls.iam_password_policy_test

import data.custos.controls.iam_password_policy as ctl

account(cfg) := {"resourceType": "Custos::IAM::Account", "resourceId": "123456789012", "awsRegion": "global", "configuration": cfg}

strong := {
	"MinimumPasswordLength": 14,
	"RequireSymbols": true,
	"RequireNumbers": true,
	"RequireUppercaseCharacters": true,
	"RequireLowercaseCharacters": true,
	"AllowUsersToChangePassword": true,
	"ExpirePasswords": false,
	"PasswordReusePrevention": 24,
}

with_policy(p) := account({"AccountSummary": {"AccountMFAEnabled": 1}, "PasswordPolicy": p, "Unread": []})

test_strong_policy_passes if {
	count(ctl.violations) == 0 with input as with_policy(strong) with data.custos.config.settings as {}
}

test_stronger_policy_passes if {
	count(ctl.violations) == 0 with input as with_policy(object.union(strong, {"MinimumPasswordLength": 20})) with data.custos.config.settings as {}
}

test_no_policy_fails if {
	ctl.violations == {"the account has no password policy"} with input as with_policy(null) with data.custos.config.settings as {}
}

test_short_length_fails if {
	ctl.violations == {"passwords may be 8 characters long, shorter than the required 14"} with input as with_policy(object.union(strong, {"MinimumPasswordLength": 8})) with data.custos.config.settings as {}
}

test_each_missing_requirement_fails if {
	ctl.violations == {
		"the password policy does not require a symbol (`RequireSymbols` is off)",
		"the password policy does not require a number (`RequireNumbers` is off)",
		"the password policy does not require an uppercase letter (`RequireUppercaseCharacters` is off)",
		"the password policy does not require a lowercase letter (`RequireLowercaseCharacters` is off)",
	} with input as with_policy(object.union(strong, {"RequireSymbols": false, "RequireNumbers": false, "RequireUppercaseCharacters": false, "RequireLowercaseCharacters": false})) with data.custos.config.settings as {}
}

test_short_reuse_history_fails if {
	ctl.violations == {"the password policy remembers the last 5 passwords, fewer than the required 24"} with input as with_policy(object.union(strong, {"PasswordReusePrevention": 5})) with data.custos.config.settings as {}
}

test_no_reuse_prevention_fails if {
	ctl.violations == {"the password policy allows reusing passwords; the last 24 must be remembered"} with input as with_policy(object.remove(strong, ["PasswordReusePrevention"])) with data.custos.config.settings as {}
}

test_every_shortfall_is_its_own_finding_fails if {
	ctl.violations == {
		"passwords may be 6 characters long, shorter than the required 14",
		"the password policy does not require a symbol (`RequireSymbols` is off)",
		"the password policy does not require an uppercase letter (`RequireUppercaseCharacters` is off)",
		"the password policy allows reusing passwords; the last 24 must be remembered",
	} with input as with_policy({"MinimumPasswordLength": 6, "RequireSymbols": false, "RequireNumbers": true, "RequireUppercaseCharacters": false, "RequireLowercaseCharacters": true}) with data.custos.config.settings as {}
}

test_configured_minimums_fail if {
	ctl.violations == {
		"passwords may be 14 characters long, shorter than the required 16",
		"the password policy remembers the last 24 passwords, fewer than the required 25",
	} with input as with_policy(strong) with data.custos.config.settings as {"password_min_length": 16, "password_reuse_prevention": 25}
}

test_configured_minimums_met_passes if {
	count(ctl.violations) == 0 with input as with_policy(object.union(strong, {"MinimumPasswordLength": 8, "PasswordReusePrevention": 12}))
		with data.custos.config.settings as {"password_min_length": 8, "password_reuse_prevention": 12}
}

test_unread_policy_fails_as_unknown if {
	ctl.violations == {"the password policy could not be read (`iam:GetAccountPasswordPolicy`: AccessDenied), so whether it is strong is unknown"} with input as account({"AccountSummary": {}, "Unread": [{"action": "iam:GetAccountPasswordPolicy", "message": "AccessDenied"}]})
}

test_absent_policy_fails_as_unknown if {
	ctl.violations == {"the password policy was not read, so whether it is strong is unknown"} with input as account({"Unread": []})
}

test_non_object_policy_fails_as_unknown if {
	ctl.violations == {"the password policy is not an object, so whether it is strong is unknown"} with input as with_policy("strong")
}

test_empty_input_does_not_error if {
	ctl.violations == {"the password policy was not read, so whether it is strong is unknown"} with input as {}
}
