package custos.controls.ec2_required_tags_test

import data.custos.controls.ec2_required_tags as ctl

res(tags) := {"resourceType": "AWS::EC2::Instance", "tags": tags}

test_nothing_required_passes if {
	count(ctl.violations) == 0 with input as res({}) with data.custos.config.settings as {}
}

test_missing_and_empty_fail if {
	v := ctl.violations with input as res({"team": " "}) with data.custos.config.settings as {"required_tags": ["owner", "team"]}
	v == {"required tag `owner` is missing", "required tag `team` is missing"}
}

test_present_passes if {
	count(ctl.violations) == 0 with input as res({"owner": "alice"}) with data.custos.config.settings as {"required_tags": ["owner"]}
}
