package custos.controls.cloudtrail_cloudwatch_logs_test

import data.custos.controls.cloudtrail_cloudwatch_logs as ctl

test_delivering_passes if {
	count(ctl.violations) == 0 with input as {"resourceType": "AWS::CloudTrail::Trail", "configuration": {"name": "t", "cloudWatchLogsLogGroupArn": "arn:aws:logs:us-east-1:111111111111:log-group:trail:*"}}
}

test_not_delivering_fails if {
	ctl.violations == {"the trail does not deliver to CloudWatch Logs"} with input as {"resourceType": "AWS::CloudTrail::Trail", "configuration": {"name": "t"}}
}
