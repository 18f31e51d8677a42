# EC2 instances and security groups carry the tags the organisation requires
# (custos.toml [controls] required_tags; none required when unset).
package custos.controls.ec2_required_tags

metadata := {
	"id": "ec2-required-tags",
	"title": "EC2 resource carries the required tags",
	"severity": "low",
	"resource_types": ["AWS::EC2::Instance", "AWS::EC2::SecurityGroup"],
	"frameworks": {
		"aws-fsbp": [],
		"cis-aws-foundations-v3.0": [],
		"fedramp-moderate": ["CM-8", "CM-8(4)"],
		"cmmc-2.0-l2": ["CM.L2-3.4.1"],
		"nist-800-53-r5": ["CM-8", "CM-8(4)"],
		"nist-800-171-r2": ["3.4.1"],
	},
	"remediation": "ec2-add-required-tags",
	"class": "auto",
}

required := object.get(data, ["custos", "config", "settings", "required_tags"], [])

violations contains msg if {
	some key in required
	value := object.get(object.get(input, "tags", {}), key, "")
	trim_space(value) == ""
	msg := sprintf("required tag `%s` is missing", [key])
}
