package custos.controls.kms_key_not_pending_deletion_test

import data.custos.controls.kms_key_not_pending_deletion as ctl

key(state) := {"resourceType": "AWS::KMS::Key", "configuration": {"keyId": "k", "keyManager": "CUSTOMER", "keyState": state, "deletionDate": "2026-12-10T00:00:00Z"}}

test_enabled_key_passes if {
	count(ctl.violations) == 0 with input as key("Enabled")
}

test_aws_managed_key_passes if {
	count(ctl.violations) == 0 with input as {"resourceType": "AWS::KMS::Key", "configuration": {"keyManager": "AWS", "keyState": "PendingDeletion"}}
}

test_pending_deletion_fails if {
	ctl.violations == {"the key is scheduled for deletion on `2026-12-10T00:00:00Z`"} with input as key("PendingDeletion")
}
