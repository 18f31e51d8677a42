package custos.controls.s3_default_encryption_test

import data.custos.controls.s3_default_encryption as ctl

bucket(alg) := {"resourceType": "AWS::S3::Bucket", "supplementaryConfiguration": {"ServerSideEncryptionConfiguration": {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": alg}}]}}}

test_sse_s3_passes if {
	count(ctl.violations) == 0 with input as bucket("AES256")
}

test_sse_kms_passes if {
	count(ctl.violations) == 0 with input as bucket("aws:kms")
}

test_no_configuration_fails if {
	ctl.violations == {"no default encryption is configured"} with input as {"resourceType": "AWS::S3::Bucket", "supplementaryConfiguration": {}}
}

test_empty_rules_fail if {
	ctl.violations == {"no default encryption is configured"} with input as {"resourceType": "AWS::S3::Bucket", "supplementaryConfiguration": {"ServerSideEncryptionConfiguration": {"rules": []}}}
}

test_unknown_algorithm_fails if {
	ctl.violations == {"default encryption uses unsupported algorithm `ROT13`"} with input as bucket("ROT13")
}
