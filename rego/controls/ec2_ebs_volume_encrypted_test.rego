package custos.controls.ec2_ebs_volume_encrypted_test

import data.custos.controls.ec2_ebs_volume_encrypted as ctl

vol(enc) := {"resourceType": "AWS::EC2::Volume", "configuration": {"volumeId": "vol-1", "encrypted": enc}}

test_encrypted_passes if {
	count(ctl.violations) == 0 with input as vol(true)
}

test_unencrypted_fails if {
	ctl.violations == {"the volume is not encrypted"} with input as vol(false)
}

test_unknown_fails if {
	ctl.violations == {"the volume is not encrypted"} with input as {"resourceType": "AWS::EC2::Volume", "configuration": {}}
}
