package custos.controls.s3_versioning_test

import data.custos.controls.s3_versioning as ctl

bucket(status) := {"resourceType": "AWS::S3::Bucket", "supplementaryConfiguration": {"BucketVersioningConfiguration": {"status": status}}}

test_enabled_passes if {
	count(ctl.violations) == 0 with input as bucket("Enabled")
}

test_suspended_fails if {
	ctl.violations == {"versioning is `Suspended`, not `Enabled`"} with input as bucket("Suspended")
}

test_never_configured_fails if {
	ctl.violations == {"versioning is `Off`, not `Enabled`"} with input as {"resourceType": "AWS::S3::Bucket", "supplementaryConfiguration": {}}
}
