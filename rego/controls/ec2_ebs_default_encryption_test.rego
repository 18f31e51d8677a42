package custos.controls.ec2_ebs_default_encryption_test

import data.custos.controls.ec2_ebs_default_encryption as ctl

test_on_passes if {
	count(ctl.violations) == 0 with input as {"resourceType": "AWS::::Account", "configuration": {"ebsEncryptionByDefault": true}}
}

test_off_fails if {
	ctl.violations == {"EBS encryption by default is off"} with input as {"resourceType": "AWS::::Account", "configuration": {"ebsEncryptionByDefault": false}}
}

test_unknown_fails if {
	count(ctl.violations) == 1 with input as {"resourceType": "AWS::::Account", "configuration": {}}
}
