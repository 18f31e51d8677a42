package custos.controls.ec2_sg_open_ingress_test

import data.custos.controls.ec2_sg_open_ingress as ctl

sg(perms) := {"resourceType": "AWS::EC2::SecurityGroup", "configuration": {"ipPermissions": perms}}

rule(proto, from, to, cidr) := {"ipProtocol": proto, "fromPort": from, "toPort": to, "ipv4Ranges": [{"cidrIp": cidr}], "ipv6Ranges": []}

test_ssh_from_anywhere_fails if {
	ctl.violations == {"ingress 22/tcp is open to 0.0.0.0/0"} with input as sg([rule("tcp", 22, 22, "0.0.0.0/0")])
}

test_https_from_anywhere_passes if {
	count(ctl.violations) == 0 with input as sg([rule("tcp", 443, 443, "0.0.0.0/0")])
}

test_ssh_from_private_range_passes if {
	count(ctl.violations) == 0 with input as sg([rule("tcp", 22, 22, "10.0.0.0/8")])
}

test_ipv6_anywhere_fails if {
	p := {"ipProtocol": "tcp", "fromPort": 3389, "toPort": 3389, "ipv4Ranges": [], "ipv6Ranges": [{"cidrIpv6": "::/0"}]}
	ctl.violations == {"ingress 3389/tcp is open to ::/0"} with input as sg([p])
}

test_all_traffic_fails if {
	ctl.violations == {"ingress all ports is open to 0.0.0.0/0"} with input as sg([rule("-1", -1, -1, "0.0.0.0/0")])
}

test_port_range_including_web_fails if {
	ctl.violations == {"ingress 80-8080/tcp is open to 0.0.0.0/0"} with input as sg([rule("tcp", 80, 8080, "0.0.0.0/0")])
}

test_configured_web_ports if {
	count(ctl.violations) == 0 with input as sg([rule("tcp", 8443, 8443, "0.0.0.0/0")]) with data.custos.config.settings as {"web_ports": [8443]}
}
