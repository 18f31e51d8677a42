# Security groups must not allow ingress from anywhere (0.0.0.0/0 or ::/0) except on web
# ports. Each offending (protocol, port range, source) is one violation.
package custos.controls.ec2_sg_open_ingress

metadata := {
	"id": "ec2-sg-open-ingress",
	"title": "Security group allows ingress from anywhere only on web ports",
	"severity": "high",
	"resource_types": ["AWS::EC2::SecurityGroup"],
	"frameworks": {
		"aws-fsbp": ["EC2.18", "EC2.19"],
		"fedramp-moderate": ["AC-4", "CM-7", "SC-7", "SC-7(5)"],
		"cmmc-2.0-l2": ["AC.L2-3.1.3", "SC.L2-3.13.1", "SC.L2-3.13.6"],
		"cis-aws-foundations-v3.0": ["5.2", "5.3"],
		"nist-800-53-r5": ["AC-4", "CM-7", "SC-7", "SC-7(5)"],
		"nist-800-171-r2": ["3.1.3", "3.13.1", "3.13.6"],
	},
	"remediation": "ec2-revoke-open-ingress",
	"class": "auto",
	"terraform": `# Remove the rule open to 0.0.0.0/0 and ::/0 (an aws_vpc_security_group_ingress_rule, or an
# ingress block of the aws_security_group), and allow the administrative range only:
resource "aws_vpc_security_group_ingress_rule" "admin" {
  security_group_id = "{resource_id}"
  cidr_ipv4         = "<admin-cidr>"
  ip_protocol       = "tcp"
  from_port         = "<port>"
  to_port           = "<port>"
}
`,
}

settings := object.get(data, ["custos", "config", "settings"], {})

web_ports := object.get(settings, "web_ports", [80, 443])

open_ipv4 := "0.0.0.0/0"

open_ipv6 := "::/0"

permissions := object.get(input, ["configuration", "ipPermissions"], [])

# A rule is acceptable when it is TCP and every port it opens is a web port.
only_web_ports(p) if {
	lower(p.ipProtocol) in {"tcp", "6"}
	p.fromPort == p.toPort
	p.fromPort in web_ports
}

open_sources(p) := {r.cidrIp | some r in object.get(p, "ipv4Ranges", []); r.cidrIp == open_ipv4} | {r.cidrIpv6 | some r in object.get(p, "ipv6Ranges", []); r.cidrIpv6 == open_ipv6}

port_text(p) := "all ports" if p.ipProtocol == "-1"

port_text(p) := sprintf("%v/%v", [p.fromPort, lower(p.ipProtocol)]) if {
	p.ipProtocol != "-1"
	p.fromPort == p.toPort
}

port_text(p) := sprintf("%v-%v/%v", [p.fromPort, p.toPort, lower(p.ipProtocol)]) if {
	p.ipProtocol != "-1"
	p.fromPort != p.toPort
}

violations contains msg if {
	some p in permissions
	not only_web_ports(p)
	some src in open_sources(p)
	msg := sprintf("ingress %s is open to %s", [port_text(p), src])
}
