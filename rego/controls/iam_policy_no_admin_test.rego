package custos.controls.iam_policy_no_admin_test

import data.custos.controls.iam_policy_no_admin as ctl

policy(doc) := {"resourceType": "AWS::IAM::Policy", "resourceId": "ANPAEXAMPLE", "resourceName": "ops", "awsRegion": "global", "configuration": {"policyName": "ops", "arn": "arn:aws:iam::123456789012:policy/ops", "attachmentCount": 2, "defaultVersionId": "v3", "policyVersionList": [{"versionId": "v3", "isDefaultVersion": true, "createDate": "2024-01-01T00:00:00Z", "document": doc}]}}

# json.dumps(indent=2) of {"Version", "Statement": [{"Sid": "Everything", "Effect": "Allow", "Action": "*", "Resource": "*"}]}, percent-encoded.
encoded_admin := "%7B%0A%20%20%22Version%22%3A%20%222012-10-17%22%2C%0A%20%20%22Statement%22%3A%20%5B%0A%20%20%20%20%7B%0A%20%20%20%20%20%20%22Sid%22%3A%20%22Everything%22%2C%0A%20%20%20%20%20%20%22Effect%22%3A%20%22Allow%22%2C%0A%20%20%20%20%20%20%22Action%22%3A%20%22%2A%22%2C%0A%20%20%20%20%20%20%22Resource%22%3A%20%22%2A%22%0A%20%20%20%20%7D%0A%20%20%5D%0A%7D"

# A single Statement object with lists, spaces encoded as `+`.
encoded_admin_lists := "%7B%22Version%22%3A+%222012-10-17%22%2C+%22Statement%22%3A+%7B%22Effect%22%3A+%22Allow%22%2C+%22Action%22%3A+%5B%22s3%3AGetObject%22%2C+%22%2A%22%5D%2C+%22Resource%22%3A+%5B%22arn%3Aaws%3As3%3A%3A%3Ab%2F%2A%22%2C+%22%2A%22%5D%7D%7D"

# s3:* on everything, with a multi-byte character and a literal `%` in a condition.
encoded_s3_only := "%7B%22Version%22%3A%20%222012-10-17%22%2C%20%22Statement%22%3A%20%5B%7B%22Effect%22%3A%20%22Allow%22%2C%20%22Action%22%3A%20%22s3%3A%2A%22%2C%20%22Resource%22%3A%20%22%2A%22%2C%20%22Condition%22%3A%20%7B%22StringEquals%22%3A%20%7B%22aws%3APrincipalTag%2Fteam%22%3A%20%22caf%C3%A9%20100%25%22%7D%7D%7D%5D%7D"

everything_msg := "statement `Everything` of the default version v3 allows every action on every resource (`\"Action\": \"*\"`, `\"Resource\": \"*\"`); it is attached to 2 users, groups or roles"

unnamed_msg := "a statement of the default version v3 allows every action on every resource (`\"Action\": \"*\"`, `\"Resource\": \"*\"`); it is attached to 2 users, groups or roles"

test_url_decoding_keeps_utf8 if {
	ctl.url_decode("caf%C3%A9+100%25") == "café 100%"
}

test_url_decoding_decodes_each_escape_once if {
	ctl.url_decode("%2541%7b%7D+%2B%22") == "%41{} +\""
}

test_url_decoding_refuses_a_broken_escape if {
	not ctl.url_decode("%7B%4")
	not ctl.url_decode("100%")
	not ctl.url_decode("%G1")
}

test_scoped_policy_passes if {
	count(ctl.violations) == 0 with input as policy(encoded_s3_only)
}

test_encoded_admin_policy_fails if {
	ctl.violations == {everything_msg} with input as policy(encoded_admin)
}

test_encoded_lists_with_plus_spaces_fail if {
	ctl.violations == {unnamed_msg} with input as policy(encoded_admin_lists)
}

test_plain_json_document_fails if {
	ctl.violations == {unnamed_msg} with input as policy(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)
}

test_object_document_fails if {
	ctl.violations == {unnamed_msg} with input as policy({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["*"], "Resource": "*"}]})
}

test_star_colon_star_fails if {
	ctl.violations == {unnamed_msg} with input as policy({"Statement": {"Effect": "Allow", "Action": "*:*", "Resource": ["*"]}})
}

test_not_action_is_not_admin_passes if {
	count(ctl.violations) == 0 with input as policy({"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]})
}

test_deny_everything_passes if {
	count(ctl.violations) == 0 with input as policy({"Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]})
}

test_star_action_on_one_resource_passes if {
	count(ctl.violations) == 0 with input as policy({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::bucket/*"}]})
}

test_not_resource_is_not_counted_passes if {
	count(ctl.violations) == 0 with input as policy({"Statement": [{"Effect": "Allow", "Action": "*", "NotResource": "arn:aws:s3:::bucket"}]})
}

test_only_the_default_version_counts_passes if {
	count(ctl.violations) == 0 with input as {"resourceType": "AWS::IAM::Policy", "configuration": {"defaultVersionId": "v2", "policyVersionList": [
		{"versionId": "v1", "isDefaultVersion": false, "document": {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}},
		{"versionId": "v2", "isDefaultVersion": true, "document": {"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}},
	]}}
}

test_default_named_by_id_fails if {
	ctl.violations == {"a statement of the default version v1 allows every action on every resource (`\"Action\": \"*\"`, `\"Resource\": \"*\"`)"} with input as {"resourceType": "AWS::IAM::Policy", "configuration": {"defaultVersionId": "v1", "policyVersionList": [{"versionId": "v1", "document": {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}}]}}
}

test_undecodable_document_fails_as_unknown if {
	ctl.violations == {"the document of the default version v3 could not be decoded, so whether it grants full administrative privileges is unknown"} with input as policy("%7B%ZZ")
}

test_non_json_document_fails_as_unknown if {
	ctl.violations == {"the document of the default version v3 could not be decoded, so whether it grants full administrative privileges is unknown"} with input as policy("not%20json")
}

test_odd_statements_pass if {
	count(ctl.violations) == 0 with input as policy({"Statement": ["text", 5, null]})
}

test_absent_document_passes if {
	count(ctl.violations) == 0 with input as policy(null)
}

test_empty_input_passes if {
	count(ctl.violations) == 0 with input as {}
}

test_attachment_counts_are_worded_fails if {
	ctl.violations == {"a statement of the default version v1 allows every action on every resource (`\"Action\": \"*\"`, `\"Resource\": \"*\"`); it is attached to 1 user, group or role"} with input as {"configuration": {"attachmentCount": 1, "policyVersionList": [{"versionId": "v1", "isDefaultVersion": true, "document": {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}}]}}
	ctl.violations == {"a statement of the default version v1 allows every action on every resource (`\"Action\": \"*\"`, `\"Resource\": \"*\"`); it is not attached to any user, group or role"} with input as {"configuration": {"attachmentCount": 0, "policyVersionList": [{"versionId": "v1", "isDefaultVersion": true, "document": {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}}]}}
}
