# A VPC's default security group allows no inbound traffic (FSBP EC2.2, CIS 5.4; outbound is
# `ec2-default-sg-no-outbound`: each fix is one request), so that resources launched without a group of their own get no
# access by accident. One finding per rule. Human: resources that use the default group today lose the traffic its
# rules allow, so each change needs an approval.
package custos.controls.ec2_default_sg_no_inbound

metadata := {
	"id": "ec2-default-sg-no-inbound",
	"title": "Default security group allows no inbound traffic",
	"severity": "high",
	"resource_types": ["AWS::EC2::SecurityGroup"],
	"frameworks": {
		"aws-fsbp": ["EC2.2"],
		"fedramp-moderate": ["AC-4", "AC-4(21)", "SC-7", "SC-7(4)", "SC-7(5)"],
		"cmmc-2.0-l2": ["AC.L2-3.1.3", "SC.L2-3.13.1", "SC.L2-3.13.6"],
		"cis-aws-foundations-v3.0": ["5.4"],
		"nist-800-53-r5": ["AC-4", "AC-4(21)", "SC-7", "SC-7(11)", "SC-7(16)", "SC-7(21)", "SC-7(4)", "SC-7(5)"],
		"nist-800-171-r2": ["3.1.3", "3.13.1", "3.13.6"],
	},
	"remediation": "ec2-revoke-default-sg-ingress",
	"class": "human",
	"terraform": `# Terraform removes every rule of the default group when it adopts it, and this block adds
# none. Deleting the blocks of a group it manages already leaves the rules: run the fix's command.
resource "aws_default_security_group" "default" {
  vpc_id = "<vpc-id>"
}
`,
}

is_default if object.get(input, ["configuration", "groupName"], "") == "default"

rules(field) := r if {
	r := object.get(input, ["configuration", field], [])
	is_array(r)
} else := []

list(p, field) := l if {
	l := object.get(p, field, [])
	is_array(l)
} else := []

protocol(p) := lower(x) if {
	x := object.get(p, "ipProtocol", "-1")
	is_string(x)
} else := "-1"

port_text(p) := "all traffic" if {
	protocol(p) in {"-1", "all"}
} else := sprintf("%v %v", [protocol(p), p.fromPort]) if {
	is_number(object.get(p, "fromPort", null))
	object.get(p, "fromPort", null) == object.get(p, "toPort", null)
} else := sprintf("%v %v-%v", [protocol(p), p.fromPort, p.toPort]) if {
	is_number(object.get(p, "fromPort", null))
	is_number(object.get(p, "toPort", null))
} else := sprintf("%v (all ports)", [protocol(p)])

peers(p) := {x |
	some r in list(p, "ipv4Ranges")
	x := object.get(r, "cidrIp", null)
	is_string(x)
} | {x |
	some r in list(p, "ipv6Ranges")
	x := object.get(r, "cidrIpv6", null)
	is_string(x)
} | {x |
	some r in list(p, "userIdGroupPairs")
	x := object.get(r, "groupId", null)
	is_string(x)
} | {x |
	some r in list(p, "prefixListIds")
	x := object.get(r, "prefixListId", null)
	is_string(x)
}

peer_text(p) := concat(", ", sort(peers(p))) if count(peers(p)) > 0

else := "no recorded peer"

violations contains msg if {
	is_default
	some p in rules("ipPermissions")
	is_object(p)
	msg := sprintf("the default security group allows inbound %s from %s", [port_text(p), peer_text(p)])
}
