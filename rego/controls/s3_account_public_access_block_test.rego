package custos.controls.s3_account_public_access_block_test

import data.custos.controls.s3_account_public_access_block as ctl

block(acls, ignore, policy, restrict) := {"resourceType": "AWS::S3::AccountPublicAccessBlock", "resourceId": "111122223333", "configuration": {"blockPublicAcls": acls, "ignorePublicAcls": ignore, "blockPublicPolicy": policy, "restrictPublicBuckets": restrict}}

test_all_four_on_passes if {
	count(ctl.violations) == 0 with input as block(true, true, true, true)
}

test_none_fails_once_per_flag if {
	count(ctl.violations) == 4 with input as block(false, false, false, false)
	count(ctl.violations) == 4 with input as {"resourceType": "AWS::S3::AccountPublicAccessBlock", "configuration": {}}
}

test_one_off_fails if {
	ctl.violations == {"the account's S3 Block Public Access has `restrictPublicBuckets` off"} with input as block(true, true, true, false)
}
