package custos.controls.iam_user_no_attached_policies_test

import data.custos.controls.iam_user_no_attached_policies as ctl

user(cfg) := {"resourceType": "AWS::IAM::User", "resourceId": "AIDAEXAMPLE", "resourceName": "alice", "awsRegion": "global", "configuration": object.union({"userName": "alice", "groupList": ["developers"]}, cfg)}

test_group_only_user_passes if {
	count(ctl.violations) == 0 with input as user({"attachedManagedPolicies": [], "userPolicyList": []})
}

test_absent_lists_pass if {
	count(ctl.violations) == 0 with input as user({})
}

test_attached_managed_policy_fails if {
	ctl.violations == {"managed policy `AdministratorAccess` is attached directly to the user"} with input as user({"attachedManagedPolicies": [{"policyArn": "arn:aws:iam::aws:policy/AdministratorAccess", "policyName": "AdministratorAccess"}], "userPolicyList": []})
}

test_inline_policy_fails if {
	ctl.violations == {"inline policy `s3-read` is embedded in the user"} with input as user({"attachedManagedPolicies": [], "userPolicyList": [{"policyName": "s3-read", "policyDocument": "%7B%7D"}]})
}

test_both_kinds_fail_once_each if {
	ctl.violations == {
		"managed policy `ReadOnlyAccess` is attached directly to the user",
		"managed policy `arn:aws:iam::123456789012:policy/team` is attached directly to the user",
		"inline policy `s3-read` is embedded in the user",
	} with input as user({
		"attachedManagedPolicies": [{"policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess", "policyName": "ReadOnlyAccess"}, {"policyArn": "arn:aws:iam::123456789012:policy/team"}],
		"userPolicyList": [{"policyName": "s3-read"}],
	})
}

test_null_lists_pass if {
	count(ctl.violations) == 0 with input as user({"attachedManagedPolicies": null, "userPolicyList": null})
}

test_empty_input_passes if {
	count(ctl.violations) == 0 with input as {}
}
