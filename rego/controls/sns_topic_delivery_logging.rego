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
	"guidance": "Delivery status logging needs an IAM role SNS can assume to write to CloudWatch Logs: create it (AWS's managed policy `AmazonSNSRole` grants what it needs), then set the failure (and, with a sample rate, success) feedback role for each protocol the topic delivers to: Lambda, SQS, HTTP, Application or Firehose. custos does not create IAM roles.",
	"cli": [
		`aws iam create-role --role-name <role-name> --assume-role-policy-document '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"sns.amazonaws.com"},"Action":"sts:AssumeRole"}]}'`,
		"aws iam attach-role-policy --role-name <role-name> --policy-arn arn:aws:iam::aws:policy/service-role/AmazonSNSRole",
		"aws sns set-topic-attributes --region {region} --topic-arn {resource_id} --attribute-name <Protocol>FailureFeedbackRoleArn --attribute-value arn:aws:iam::{account}:role/<role-name>",
		"aws sns set-topic-attributes --region {region} --topic-arn {resource_id} --attribute-name <Protocol>SuccessFeedbackRoleArn --attribute-value arn:aws:iam::{account}:role/<role-name>",
		"aws sns set-topic-attributes --region {region} --topic-arn {resource_id} --attribute-name <Protocol>SuccessFeedbackSampleRate --attribute-value <percent>",
	],
	"terraform": `resource "aws_iam_role" "sns_delivery_logs" {
  name = "<role-name>"
  assume_role_policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Principal = { Service = "sns.amazonaws.com" }, Action = "sts:AssumeRole" }]
  })
}

resource "aws_iam_role_policy_attachment" "sns_delivery_logs" {
  role       = aws_iam_role.sns_delivery_logs.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonSNSRole"
}

resource "aws_sns_topic" "this" {
  name                                = "{resource_name}"
  lambda_failure_feedback_role_arn    = aws_iam_role.sns_delivery_logs.arn
  lambda_success_feedback_role_arn    = aws_iam_role.sns_delivery_logs.arn
  lambda_success_feedback_sample_rate = 100
  # likewise sqs_, http_, application_, firehose_ for the protocols the topic uses
}
`,
}

feedback := {k | some k, v in object.get(input, "configuration", {}); endswith(k, "FailureFeedbackRoleArn"); v != ""}

violations contains "the topic logs no delivery status" if count(feedback) == 0
