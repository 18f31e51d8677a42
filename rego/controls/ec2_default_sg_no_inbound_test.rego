package custos.controls.ec2_default_sg_no_inbound_test

import data.custos.controls.ec2_default_sg_no_inbound as ctl

sg(name, ingress, egress) := {"resourceType": "AWS::EC2::SecurityGroup", "resourceId": "sg-0abc", "configuration": {"groupId": "sg-0abc", "groupName": name, "vpcId": "vpc-1", "ipPermissions": ingress, "ipPermissionsEgress": egress}}

# What a new VPC's default group holds: all traffic from itself, all traffic out.
self_ingress := {"ipProtocol": "-1", "ipv4Ranges": [], "ipv6Ranges": [], "userIdGroupPairs": [{"groupId": "sg-0abc", "userId": "123456789012"}], "prefixListIds": []}

all_egress := {"ipProtocol": "-1", "ipv4Ranges": [{"cidrIp": "0.0.0.0/0"}], "ipv6Ranges": [], "userIdGroupPairs": [], "prefixListIds": []}

test_closed_default_group_passes if {
	count(ctl.violations) == 0 with input as sg("default", [], [])
}

test_other_group_with_rules_passes if {
	count(ctl.violations) == 0 with input as sg("web", [self_ingress], [all_egress])
}

test_new_vpc_default_group_fails if {
	ctl.violations == {"the default security group allows inbound all traffic from sg-0abc"} with input as sg("default", [self_ingress], [all_egress])
}

test_port_rules_fail if {
	ctl.violations == {
		"the default security group allows inbound tcp 22 from 10.0.0.0/8, ::/0",
		"the default security group allows inbound udp 1000-2000 from pl-123",
	} with input as sg("default", [
		{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "ipv4Ranges": [{"cidrIp": "10.0.0.0/8"}], "ipv6Ranges": [{"cidrIpv6": "::/0"}]},
		{"ipProtocol": "udp", "fromPort": 1000, "toPort": 2000, "prefixListIds": [{"prefixListId": "pl-123"}]},
	], [])
}

test_outbound_only_passes if {
	count(ctl.violations) == 0 with input as sg("default", [], [all_egress])
}

test_null_rule_lists_pass if {
	count(ctl.violations) == 0 with input as sg("default", null, null)
}

test_empty_input_passes if {
	count(ctl.violations) == 0 with input as {}
}

test_rule_with_only_a_from_port_fails if {
	ctl.violations == {"the default security group allows inbound tcp (all ports) from 10.0.0.0/8"} with input as sg("default", [{"ipProtocol": "TCP", "fromPort": 22, "ipv4Ranges": [{"cidrIp": "10.0.0.0/8"}]}], [])
}
