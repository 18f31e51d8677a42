# SNS topics log the delivery status of notifications (FSBP SNS.2). Alert-only: the fix
# needs an IAM role for SNS, which custos does not create.
package custos.controls.sns_topic_delivery_logging

metadata := {
	"id": "sns-topic-delivery-logging",
	"title": "SNS topic logs the delivery status of its notifications",
	"severity": "low",
	"resource_types": ["AWS::SNS::Topic"],
	"frameworks": {
		"aws-fsbp": ["SNS.2"],
		"fedramp-moderate": ["AU-2", "AU-12"],
		"cmmc-2.0-l2": ["AU.L2-3.3.1"],
		"cis-aws-foundations-v3.0": [],
		"nist-800-53-r5": ["AU-2", "AU-12"],
		"nist-800-171-r2": ["3.3.1"],
	},
	"class": "alert",
	"guidance": "Delivery status logging needs an IAM role SNS may assume to write to CloudWatch Logs: create it, then `aws sns set-topic-attributes --topic-arn <arn> --attribute-name LambdaFailureFeedbackRoleArn --attribute-value <role arn>` (and the same for the protocols the topic delivers to). custos does not create IAM roles.",
}

feedback := {k | some k, v in object.get(input, "configuration", {}); endswith(k, "FailureFeedbackRoleArn"); v != ""}

violations contains "the topic logs no delivery status" if count(feedback) == 0
