package custos.controls.lambda_function_public_access_test

import data.custos.controls.lambda_function_public_access as ctl

arn := "arn:aws:lambda:us-east-1:111122223333:function:thumbs"

function(policy) := {"resourceType": "AWS::Lambda::Function", "resourceId": "thumbs", "configuration": {"functionName": "thumbs", "functionArn": arn}, "supplementaryConfiguration": {"Policy": {"policyText": policy}}}

doc(statements) := json.marshal({"Version": "2012-10-17", "Id": "default", "Statement": statements})

url_public := {"Sid": "FunctionURLAllowPublicAccess", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunctionUrl", "Resource": arn, "Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}}

s3_invoke := {"Sid": "s3", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "lambda:InvokeFunction", "Resource": arn, "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::uploads"}}}

test_no_policy_passes if {
	count(ctl.violations) == 0 with input as function(null)
	count(ctl.violations) == 0 with input as {"resourceType": "AWS::Lambda::Function", "configuration": {}}
}

test_public_function_url_fails if {
	ctl.violations == {"the function policy's statement `FunctionURLAllowPublicAccess` lets anyone invoke it (a public principal, or Amazon S3 without the bucket owner's account)"} with input as function(doc([url_public]))
}

test_account_principal_passes if {
	s := object.union(url_public, {"Sid": "partner", "Principal": {"AWS": "arn:aws:iam::444455556666:root"}, "Condition": {}})
	count(ctl.violations) == 0 with input as function(doc([s]))
}

test_public_principal_with_source_account_passes if {
	s := object.union(url_public, {"Sid": "events", "Action": "lambda:InvokeFunction", "Condition": {"StringEquals": {"AWS:SourceAccount": "111122223333"}}})
	count(ctl.violations) == 0 with input as function(doc([s]))
}

test_s3_without_the_owner_account_fails if {
	ctl.violations == {"the function policy's statement `s3` lets anyone invoke it (a public principal, or Amazon S3 without the bucket owner's account)"} with input as function(doc([s3_invoke]))
}

test_s3_with_the_owner_account_passes if {
	s := object.union(s3_invoke, {"Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::uploads"}, "StringEquals": {"AWS:SourceAccount": "111122223333"}}})
	count(ctl.violations) == 0 with input as function(doc([s]))
}

test_s3_with_a_negated_owner_account_fails if {
	s := object.union(s3_invoke, {"Condition": {"StringNotEquals": {"AWS:SourceAccount": "444455556666"}}})
	count(ctl.violations) == 1 with input as function(doc([s]))
}

test_other_services_are_not_this_controls if {
	s := object.union(s3_invoke, {"Principal": {"Service": "events.amazonaws.com"}, "Condition": {}})
	count(ctl.violations) == 0 with input as function(doc([s]))
}

test_two_open_statements_are_both_named if {
	count(ctl.violations) == 2 with input as function(doc([url_public, s3_invoke]))
}

test_unparseable_policy_is_unknown if {
	ctl.violations == {"the function policy is not a JSON object, so whether it allows anyone is unknown"} with input as function("{")
}

test_ids_alike_in_their_first_64_characters_are_named_apart if {
	prefix := "p123456789012345678901234567890123456789012345678901234567890123456789"
	a := object.union(url_public, {"Sid": concat("", [prefix, "a"])})
	b := object.union(url_public, {"Sid": concat("", [prefix, "b"])})
	count(ctl.violations) == 2 with input as function(doc([a, b]))
}
