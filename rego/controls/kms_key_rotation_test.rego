package custos.controls.kms_key_rotation_test

import data.custos.controls.kms_key_rotation as ctl

key(rotation) := {"resourceType": "AWS::KMS::Key", "configuration": {"keyId": "k", "keyManager": "CUSTOMER", "keySpec": "SYMMETRIC_DEFAULT", "keyState": "Enabled"}, "supplementaryConfiguration": {"KeyRotationStatus": rotation}}

test_rotating_passes if {
	count(ctl.violations) == 0 with input as key(true)
}

test_aws_managed_passes if {
	count(ctl.violations) == 0 with input as {"resourceType": "AWS::KMS::Key", "configuration": {"keyManager": "AWS", "keySpec": "SYMMETRIC_DEFAULT", "keyState": "Enabled"}, "supplementaryConfiguration": {"KeyRotationStatus": false}}
}

test_not_rotating_fails if {
	ctl.violations == {"automatic key rotation is off"} with input as key(false)
}
