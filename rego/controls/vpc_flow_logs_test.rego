package custos.controls.vpc_flow_logs_test

import data.custos.controls.vpc_flow_logs as ctl

vpc(logs) := {"resourceType": "AWS::EC2::VPC", "configuration": {"vpcId": "vpc-1"}, "supplementaryConfiguration": {"FlowLogs": logs}}

test_logging_passes if {
	count(ctl.violations) == 0 with input as vpc([{"flowLogId": "fl-1"}]) with data.custos.config.settings.flow_log_destination as "arn:aws:s3:::logs"
}

test_no_destination_configured_passes if {
	count(ctl.violations) == 0 with input as vpc([]) with data.custos.config.settings as {}
}

test_no_flow_log_fails if {
	ctl.violations == {"the VPC has no flow log"} with input as vpc([]) with data.custos.config.settings.flow_log_destination as "arn:aws:s3:::logs"
}
