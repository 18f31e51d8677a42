package custos.controls.s3_bucket_policy_public_test

import data.custos.controls.s3_bucket_policy_public as ctl

bucket(policy, block) := {"resourceType": "AWS::S3::Bucket", "resourceId": "data", "configuration": {"name": "data"}, "supplementaryConfiguration": object.union({"BucketPolicy": {"policyText": policy}}, block)}

doc(statements) := json.marshal({"Version": "2012-10-17", "Statement": statements})

read_all := {"Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::data/*"}

test_no_policy_passes if {
	count(ctl.violations) == 0 with input as bucket(null, {})
}

test_account_principal_passes if {
	count(ctl.violations) == 0 with input as bucket(doc([object.union(read_all, {"Principal": {"AWS": "arn:aws:iam::111122223333:root"}})]), {})
}

test_public_read_fails if {
	ctl.violations == {"the bucket policy's statement `PublicRead` allows anyone (a public principal without a restricting condition)"} with input as bucket(doc([read_all]), {})
}

test_public_aws_star_in_a_list_without_sid_fails if {
	s := object.remove(object.union(read_all, {"Principal": {"AWS": ["arn:aws:iam::111122223333:root", "*"]}}), ["Sid"])
	ctl.violations == {"the bucket policy's statement number 2 allows anyone (a public principal without a restricting condition)"} with input as bucket(doc([{"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*"}, s]), {})
}

test_single_statement_object_fails if {
	count(ctl.violations) == 1 with input as bucket(json.marshal({"Version": "2012-10-17", "Statement": read_all}), {})
}

test_not_principal_allow_fails if {
	s := object.union(object.remove(read_all, ["Principal"]), {"NotPrincipal": {"AWS": "arn:aws:iam::111122223333:root"}})
	count(ctl.violations) == 1 with input as bucket(doc([s]), {})
}

test_restricting_conditions_pass if {
	every cond in [
		{"StringEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}},
		{"StringEquals": {"AWS:SourceOwner": "111122223333"}},
		{"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": ["o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/*"]}},
		{"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
		{"ArnLike": {"aws:SourceArn": "arn:aws:cloudfront::111122223333:distribution/E1"}},
		{"StringEquals": {"aws:SourceAccount": 111122223333}},
		{"ArnLike": {"aws:SourceArn": "arn:aws:sns:us-east-1:111122223333:*"}},
		{"StringLike": {"aws:PrincipalOrgPaths": "o-a1b2c3d4e5/*"}},
		{"IpAddress": {"aws:SourceIp": ["203.0.113.7", "2001:db8::/32"]}},
	] {
		count(ctl.violations) == 0 with input as bucket(doc([object.union(read_all, {"Condition": cond})]), {})
	}
}

test_conditions_that_restrict_no_one_fail if {
	every cond in [
		{"Bool": {"aws:SecureTransport": "true"}},
		{"StringNotEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}},
		{"StringEqualsIfExists": {"aws:SourceAccount": "111122223333"}},
		{"ForAllValues:StringEquals": {"aws:PrincipalOrgID": ["o-a1b2c3d4e5"]}},
		{"StringLike": {"aws:SourceArn": "*"}},
		{"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "0.0.0.0/0"]}},
		{"StringEquals": {"aws:SourceAccount": []}},
		{"StringLike": {"aws:SourceArn": "arn:*"}},
		{"StringLike": {"aws:PrincipalOrgID": "o-*"}},
		{"StringLike": {"aws:SourceVpce": "vpce-*"}},
		{"IpAddress": {"aws:SourceIp": ["0.0.0.0/1", "128.0.0.0/1"]}},
		{"IpAddress": {"aws:SourceIp": "0::/0"}},
		{"IpAddress": {"aws:SourceIp": "10.0.0.0/abc"}},
		{"StringEquals": {"aws:SourceAccount": ""}},
		{"StringEquals": {"aws:SourceAccount": {"nested": "111122223333"}}},
		{"ArnLike": {"aws:SourceArn": "arn:aws:iam::*:role/111122223333"}},
		{"StringEquals": {"aws:username": "alice"}},
	] {
		count(ctl.violations) == 1 with input as bucket(doc([object.union(read_all, {"Condition": cond})]), {})
	}
}

test_restrict_public_buckets_passes if {
	count(ctl.violations) == 0 with input as bucket(doc([read_all]), {"PublicAccessBlockConfiguration": {"blockPublicAcls": false, "ignorePublicAcls": false, "blockPublicPolicy": false, "restrictPublicBuckets": true}})
}

test_block_public_policy_alone_fails if {
	count(ctl.violations) == 1 with input as bucket(doc([read_all]), {"PublicAccessBlockConfiguration": {"blockPublicAcls": true, "ignorePublicAcls": true, "blockPublicPolicy": true, "restrictPublicBuckets": false}})
}

test_unparseable_policy_is_unknown_not_compliant if {
	ctl.violations == {"the bucket policy is not a JSON object, so whether it allows anyone is unknown"} with input as bucket("{not json", {})
	ctl.violations == {"the bucket policy is not a JSON object, so whether it allows anyone is unknown"} with input as bucket("[]", {})
}

test_a_long_sid_is_cut_to_64_characters if {
	long := concat("", ["S" | some _ in numbers.range(1, 300)])
	v := ctl.violations with input as bucket(doc([object.union(read_all, {"Sid": long})]), {})
	count(v) == 1
	some msg in v
	count(msg) < 200
}
