# A VPC's default security group allows no outbound traffic (FSBP EC2.2, CIS 5.4; inbound is
# `ec2-default-sg-no-inbound`, whose helpers this control uses), so that resources launched without a group of their own get no
# access by accident. One finding per rule. Human: resources that use the default group today lose the traffic its
# rules allow, so each change needs an approval.
package custos.controls.ec2_default_sg_no_outbound

import data.custos.controls.ec2_default_sg_no_inbound as sg

metadata := {
	"id": "ec2-default-sg-no-outbound",
	"title": "Default security group allows no outbound traffic",
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
	"remediation": "ec2-revoke-default-sg-egress",
	"class": "human",
	"terraform": `# Terraform removes every rule of the default group when it adopts it, and this block adds
# none. Deleting the blocks of a group it manages already leaves the rules: run the fix's command.
resource "aws_default_security_group" "default" {
  vpc_id = "<vpc-id>"
}
`,
}

violations contains msg if {
	sg.is_default
	some p in sg.rules("ipPermissionsEgress")
	is_object(p)
	msg := sprintf("the default security group allows outbound %s to %s", [sg.port_text(p), sg.peer_text(p)])
}
