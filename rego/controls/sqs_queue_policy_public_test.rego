package custos.controls.sqs_queue_policy_public_test

import data.custos.controls.sqs_queue_policy_public as ctl

queue(policy) := {"resourceType": "AWS::SQS::Queue", "resourceId": "https://sqs.us-east-1.amazonaws.com/111122223333/jobs", "configuration": {"QueueArn": "arn:aws:sqs:us-east-1:111122223333:jobs"}, "supplementaryConfiguration": {"Policy": {"policyText": policy}}}

send_all := {"Sid": "Anyone", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sqs:SendMessage", "Resource": "arn:aws:sqs:us-east-1:111122223333:jobs"}

test_no_policy_passes if {
	count(ctl.violations) == 0 with input as queue(null)
	count(ctl.violations) == 0 with input as {"resourceType": "AWS::SQS::Queue", "configuration": {}}
}

test_topic_source_arn_passes if {
	s := object.union(send_all, {"Principal": {"Service": "sns.amazonaws.com"}, "Condition": {"ArnEquals": {"aws:SourceArn": "arn:aws:sns:us-east-1:111122223333:events"}}})
	count(ctl.violations) == 0 with input as queue(json.marshal({"Statement": [s]}))
	t := object.union(send_all, {"Condition": {"ArnEquals": {"aws:SourceArn": "arn:aws:sns:us-east-1:111122223333:events"}}})
	count(ctl.violations) == 0 with input as queue(json.marshal({"Statement": [t]}))
}

test_public_send_fails if {
	ctl.violations == {"the queue policy's statement `Anyone` allows anyone (a public principal without a restricting condition)"} with input as queue(json.marshal({"Version": "2012-10-17", "Statement": [send_all]}))
}

test_unparseable_policy_is_unknown if {
	ctl.violations == {"the queue policy is not a JSON object, so whether it allows anyone is unknown"} with input as queue("nope")
}
