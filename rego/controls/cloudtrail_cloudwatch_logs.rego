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
	"guidance": "Create a log group and a role CloudTrail may assume to write to it, then `aws cloudtrail update-trail --name <trail> --cloud-watch-logs-log-group-arn <group arn> --cloud-watch-logs-role-arn <role arn>`; it needs an IAM role, so custos leaves it to a person.",
}

violations contains "the trail does not deliver to CloudWatch Logs" if {
	object.get(input, ["configuration", "cloudWatchLogsLogGroupArn"], "") == ""
}
