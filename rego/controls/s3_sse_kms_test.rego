package custos.controls.s3_sse_kms_test

import data.custos.controls.s3_sse_kms as ctl

bucket(alg, k, bk) := {"resourceType": "AWS::S3::Bucket", "supplementaryConfiguration": {"ServerSideEncryptionConfiguration": {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": alg, "kmsMasterKeyID": k}, "bucketKeyEnabled": bk}]}}}

required := {"s3_sse_kms": true, "kms_key": "arn:aws:kms:us-east-1:111111111111:key/k"}

test_kms_with_bucket_key_passes if {
	count(ctl.violations) == 0 with input as bucket("aws:kms", "arn:aws:kms:us-east-1:111111111111:key/k", true) with data.custos.config.settings as required
}

test_not_required_passes if {
	count(ctl.violations) == 0 with input as bucket("AES256", null, false) with data.custos.config.settings as {}
}

test_sse_s3_fails if {
	count(ctl.violations) == 1 with input as bucket("AES256", null, false) with data.custos.config.settings as required
}

test_no_bucket_key_fails if {
	count(ctl.violations) == 1 with input as bucket("aws:kms", "arn:aws:kms:us-east-1:111111111111:key/k", false) with data.custos.config.settings as required
}
