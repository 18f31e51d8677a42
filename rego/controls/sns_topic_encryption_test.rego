package custos.controls.sns_topic_encryption_test

import data.custos.controls.sns_topic_encryption as ctl

test_encrypted_passes if {
	count(ctl.violations) == 0 with input as {"resourceType": "AWS::SNS::Topic", "configuration": {"KmsMasterKeyId": "alias/aws/sns"}}
}

test_unencrypted_fails if {
	ctl.violations == {"the topic is not encrypted at rest"} with input as {"resourceType": "AWS::SNS::Topic", "configuration": {"TopicArn": "arn:aws:sns:us-east-1:111111111111:t"}}
}
