# CloudTrail trail delivers to CloudWatch Logs. Alert-only: a person acts on the finding; custos never executes anything for it.
package custos.controls.cloudtrail_cloudwatch_logs

metadata := {
	"id": "cloudtrail-cloudwatch-logs",
	"title": "CloudTrail trail delivers to CloudWatch Logs",
	"severity": "low",
	"resource_types": ["AWS::CloudTrail::Trail"],
	"frameworks": {
		"aws-fsbp": ["CloudTrail.5"],
		"fedramp-moderate": ["AU-6", "SI-4"],
		"cmmc-2.0-l2": ["AU.L2-3.3.5"],
		"cis-aws-foundations-v3.0": [],
		"nist-800-53-r5": ["AU-6", "SI-4"],
		"nist-800-171-r2": ["3.3.5"],
	},
	"class": "alert",
	"guidance": "Create a log group and a role CloudTrail can assume to write to it, then point the trail at both. It needs an IAM role, so custos leaves it to a person.",
	"cli": [
		"aws logs create-log-group --region {region} --log-group-name <log-group-name>",
		`aws iam create-role --role-name <role-name> --assume-role-policy-document '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"cloudtrail.amazonaws.com"},"Action":"sts:AssumeRole"}]}'`,
		`aws iam put-role-policy --role-name <role-name> --policy-name cloudtrail-to-cloudwatch-logs --policy-document '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["logs:CreateLogStream","logs:PutLogEvents"],"Resource":"arn:aws:logs:'{region}':'{account}':log-group:<log-group-name>:log-stream:*"}]}'`,
		"aws cloudtrail update-trail --region {region} --name {resource_name} --cloud-watch-logs-log-group-arn arn:aws:logs:{region}:{account}:log-group:<log-group-name>:* --cloud-watch-logs-role-arn arn:aws:iam::{account}:role/<role-name>",
	],
	"terraform": `resource "aws_cloudwatch_log_group" "trail" {
  name              = "<log-group-name>"
  retention_in_days = 365
}

resource "aws_iam_role" "trail_to_logs" {
  name = "<role-name>"
  assume_role_policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Principal = { Service = "cloudtrail.amazonaws.com" }, Action = "sts:AssumeRole" }]
  })
}

resource "aws_iam_role_policy" "trail_to_logs" {
  role = aws_iam_role.trail_to_logs.id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Action = ["logs:CreateLogStream", "logs:PutLogEvents"], Resource = "${aws_cloudwatch_log_group.trail.arn}:log-stream:*" }]
  })
}

resource "aws_cloudtrail" "this" {
  name                       = "{resource_name}"
  s3_bucket_name             = "<bucket-name>"
  cloud_watch_logs_group_arn = "${aws_cloudwatch_log_group.trail.arn}:*"
  cloud_watch_logs_role_arn  = aws_iam_role.trail_to_logs.arn
}
`,
}

violations contains "the trail does not deliver to CloudWatch Logs" if {
	object.get(input, ["configuration", "cloudWatchLogsLogGroupArn"], "") == ""
}
