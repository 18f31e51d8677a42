package custos.controls.cloudtrail_kms_encryption_test

import data.custos.controls.cloudtrail_kms_encryption as ctl

test_encrypted_passes if {
	count(ctl.violations) == 0 with input as {"resourceType": "AWS::CloudTrail::Trail", "configuration": {"name": "t", "kmsKeyId": "arn:aws:kms:us-east-1:111111111111:key/k"}} with data.custos.config.settings.kms_key as "alias/trail"
}

test_no_key_configured_passes if {
	count(ctl.violations) == 0 with input as {"resourceType": "AWS::CloudTrail::Trail", "configuration": {"name": "t"}} with data.custos.config.settings as {}
}

test_unencrypted_fails if {
	ctl.violations == {"the trail's logs are not encrypted with KMS (want `alias/trail`)"} with input as {"resourceType": "AWS::CloudTrail::Trail", "configuration": {"name": "t"}} with data.custos.config.settings.kms_key as "alias/trail"
}
