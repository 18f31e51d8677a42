package custos.controls.ec2_default_sg_no_outbound_test

import data.custos.controls.ec2_default_sg_no_outbound as ctl

sg(name, ingress, egress) := {"resourceType": "AWS::EC2::SecurityGroup", "resourceId": "sg-0abc", "configuration": {"groupId": "sg-0abc", "groupName": name, "vpcId": "vpc-1", "ipPermissions": ingress, "ipPermissionsEgress": egress}}

# What a new VPC's default group holds: all traffic from itself, all traffic out.
self_ingress := {"ipProtocol": "-1", "ipv4Ranges": [], "ipv6Ranges": [], "userIdGroupPairs": [{"groupId": "sg-0abc", "userId": "123456789012"}], "prefixListIds": []}

all_egress := {"ipProtocol": "-1", "ipv4Ranges": [{"cidrIp": "0.0.0.0/0"}], "ipv6Ranges": [], "userIdGroupPairs": [], "prefixListIds": []}

test_closed_default_group_passes if {
	count(ctl.violations) == 0 with input as sg("default", [], [])
}

test_inbound_only_passes if {
	count(ctl.violations) == 0 with input as sg("default", [self_ingress], [])
}

test_other_group_with_rules_passes if {
	count(ctl.violations) == 0 with input as sg("web", [self_ingress], [all_egress])
}

test_new_vpc_default_group_fails if {
	ctl.violations == {"the default security group allows outbound all traffic to 0.0.0.0/0"} with input as sg("default", [self_ingress], [all_egress])
}

test_rule_without_ports_or_peers_fails if {
	ctl.violations == {"the default security group allows outbound icmpv6 (all ports) to no recorded peer"} with input as sg("default", [], [{"ipProtocol": "icmpv6"}])
}

test_empty_input_passes if {
	count(ctl.violations) == 0 with input as {}
}
