package custos.controls.ssm_document_public_test

import data.custos.controls.ssm_document_public as ctl

doc(ids) := {"resourceType": "AWS::SSM::Document", "resourceId": "deploy-app", "resourceName": "deploy-app", "configuration": {"Name": "deploy-app", "DocumentType": "Command"}, "supplementaryConfiguration": {"Permissions": {"AccountIds": ids}}}

public_msg := "the document is public: it is shared with `all`, so any AWS account can read and run it"

test_private_document_passes if {
	count(ctl.violations) == 0 with input as doc([])
}

test_document_shared_with_an_account_passes if {
	count(ctl.violations) == 0 with input as doc(["123456789012"])
}

test_public_document_fails if {
	ctl.violations == {public_msg} with input as doc(["all"])
}

test_public_in_other_case_fails if {
	ctl.violations == {public_msg} with input as doc(["123456789012", "All"])
}

test_unread_permissions_pass if {
	count(ctl.violations) == 0 with input as {"resourceType": "AWS::SSM::Document", "configuration": {"Name": "deploy-app"}}
}

test_null_permissions_pass if {
	count(ctl.violations) == 0 with input as doc(null)
}

test_empty_input_passes if {
	count(ctl.violations) == 0 with input as {}
}
