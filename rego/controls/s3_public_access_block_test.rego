package custos.controls.s3_public_access_block_test

import data.custos.controls.s3_public_access_block as ctl

all_on := {
	"blockPublicAcls": true,
	"ignorePublicAcls": true,
	"blockPublicPolicy": true,
	"restrictPublicBuckets": true,
}

bucket(supp) := {"resourceType": "AWS::S3::Bucket", "supplementaryConfiguration": supp}

test_all_flags_on_passes if {
	count(ctl.violations) == 0 with input as bucket({"PublicAccessBlockConfiguration": all_on})
}

test_missing_block_fails if {
	ctl.violations == {"no bucket-level public access block is configured"} with input as bucket({})
}

test_each_flag_off_fails if {
	every flag in ctl.flags {
		v := ctl.violations with input as bucket({"PublicAccessBlockConfiguration": object.union(all_on, {flag: false})})
		v == {sprintf("public access block flag `%s` is not enabled", [flag])}
	}
}

test_missing_flag_counts_as_off if {
	count(ctl.violations) == 1 with input as bucket({"PublicAccessBlockConfiguration": object.remove(all_on, ["blockPublicPolicy"])})
}
