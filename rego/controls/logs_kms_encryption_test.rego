package custos.controls.logs_kms_encryption_test

import data.custos.controls.logs_kms_encryption as ctl

group(k) := {"resourceType": "AWS::Logs::LogGroup", "configuration": {"logGroupName": "g", "kmsKeyId": k}}

test_configured_key_passes if {
	count(ctl.violations) == 0 with input as group("arn:aws:kms:us-east-1:111111111111:key/k") with data.custos.config.settings.kms_key as "arn:aws:kms:us-east-1:111111111111:key/k"
}

test_no_key_configured_passes if {
	count(ctl.violations) == 0 with input as {"resourceType": "AWS::Logs::LogGroup", "configuration": {"logGroupName": "g"}} with data.custos.config.settings as {}
}

test_unencrypted_fails if {
	count(ctl.violations) == 1 with input as {"resourceType": "AWS::Logs::LogGroup", "configuration": {"logGroupName": "g"}} with data.custos.config.settings.kms_key as "arn:aws:kms:us-east-1:111111111111:key/k"
}
