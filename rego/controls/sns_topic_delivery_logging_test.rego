package custos.controls.sns_topic_delivery_logging_test

import data.custos.controls.sns_topic_delivery_logging as ctl

test_lambda_feedback_passes if {
	count(ctl.violations) == 0 with input as {"resourceType": "AWS::SNS::Topic", "configuration": {"TopicArn": "t", "LambdaFailureFeedbackRoleArn": "arn:aws:iam::111111111111:role/sns"}}
}

test_no_feedback_fails if {
	ctl.violations == {"the topic logs no delivery status"} with input as {"resourceType": "AWS::SNS::Topic", "configuration": {"TopicArn": "t"}}
}
