package custos.controls.sns_topic_policy_public_test

import data.custos.controls.sns_topic_policy_public as ctl

topic(policy) := {"resourceType": "AWS::SNS::Topic", "resourceId": "arn:aws:sns:us-east-1:111122223333:events", "configuration": {"TopicArn": "arn:aws:sns:us-east-1:111122223333:events"}, "supplementaryConfiguration": {"Policy": {"policyText": policy}}}

# The policy SNS gives a new topic.
default_policy := {"Version": "2008-10-17", "Id": "__default_policy_ID", "Statement": [{"Sid": "__default_statement_ID", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": ["SNS:GetTopicAttributes", "SNS:SetTopicAttributes", "SNS:AddPermission", "SNS:RemovePermission", "SNS:DeleteTopic", "SNS:Subscribe", "SNS:ListSubscriptionsByTopic", "SNS:Publish"], "Resource": "arn:aws:sns:us-east-1:111122223333:events", "Condition": {"StringEquals": {"AWS:SourceOwner": "111122223333"}}}]}

publish_all := {"Sid": "AnyonePublishes", "Effect": "Allow", "Principal": "*", "Action": "SNS:Publish", "Resource": "arn:aws:sns:us-east-1:111122223333:events"}

test_default_policy_passes if {
	count(ctl.violations) == 0 with input as topic(json.marshal(default_policy))
}

test_public_publish_fails if {
	p := object.union(default_policy, {"Statement": array.concat(default_policy.Statement, [publish_all])})
	ctl.violations == {"the topic policy's statement `AnyonePublishes` allows anyone (a public principal without a restricting condition)"} with input as topic(json.marshal(p))
}

test_unparseable_policy_is_unknown if {
	ctl.violations == {"the topic policy is not a JSON object, so whether it allows anyone is unknown"} with input as topic("")
}
