package custos.controls.ec2_imdsv2_test

import data.custos.controls.ec2_imdsv2 as ctl

inst(opts) := {"resourceType": "AWS::EC2::Instance", "configuration": {"metadataOptions": opts}}

test_required_passes if {
	count(ctl.violations) == 0 with input as inst({"httpTokens": "required", "httpEndpoint": "enabled"})
}

test_optional_fails if {
	ctl.violations == {"instance metadata tokens are `optional`, not `required`"} with input as inst({"httpTokens": "optional"})
}

test_disabled_endpoint_passes if {
	count(ctl.violations) == 0 with input as inst({"httpTokens": "optional", "httpEndpoint": "disabled"})
}
