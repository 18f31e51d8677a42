# Every VPC has a flow log, delivered to `[controls] flow_log_destination` (FSBP EC2.6, CIS 3.7).
package custos.controls.vpc_flow_logs

metadata := {
	"id": "vpc-flow-logs",
	"title": "VPC flow logging is enabled",
	"severity": "medium",
	"resource_types": ["AWS::EC2::VPC"],
	"frameworks": {
		"aws-fsbp": ["EC2.6"],
		"fedramp-moderate": ["AU-12", "SI-4"],
		"cmmc-2.0-l2": ["AU.L2-3.3.1"],
		"cis-aws-foundations-v3.0": ["3.7"],
		"nist-800-53-r5": ["AU-12", "SI-4"],
		"nist-800-171-r2": ["3.3.1"],
	},
	"remediation": "ec2-enable-vpc-flow-logs",
	"class": "auto",
	"terraform": `resource "aws_flow_log" "this" {
  vpc_id               = "{resource_id}"
  traffic_type         = "ALL"
  log_destination_type = "s3"
  log_destination      = "<log-bucket-arn>" # [controls] flow_log_destination
}
`,
}

settings := object.get(data, ["custos", "config", "settings"], {})

destination := object.get(settings, "flow_log_destination", null)

violations contains "the VPC has no flow log" if {
	is_string(destination)
	count(object.get(input, ["supplementaryConfiguration", "FlowLogs"], [])) == 0
}
