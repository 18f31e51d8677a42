package custos.controls.required_tags_test

import data.custos.controls.required_tags as ctl

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

test_other_services_fail_alike if {
	every t in ["AWS::S3::Bucket", "AWS::SQS::Queue", "AWS::RDS::DBInstance", "AWS::SSM::Document"] {
		v := ctl.violations with input as {"resourceType": t, "tags": {}} with data.custos.config.settings as {"required_tags": ["owner"]}
		v == {"required tag `owner` is missing"}
	}
}

test_aws_managed_keys_pass if {
	k := {"resourceType": "AWS::KMS::Key", "tags": {}, "configuration": {"keyManager": "AWS"}}
	count(ctl.violations) == 0 with input as k with data.custos.config.settings as {"required_tags": ["owner"]}
	c := {"resourceType": "AWS::KMS::Key", "tags": {}, "configuration": {"keyManager": "CUSTOMER"}}
	count(ctl.violations) == 1 with input as c with data.custos.config.settings as {"required_tags": ["owner"]}
}
