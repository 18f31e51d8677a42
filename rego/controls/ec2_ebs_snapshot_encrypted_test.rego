package custos.controls.ec2_ebs_snapshot_encrypted_test

import data.custos.controls.ec2_ebs_snapshot_encrypted as ctl

snap(enc) := {"resourceType": "AWS::EC2::Snapshot", "configuration": {"snapshotId": "snap-1", "encrypted": enc}}

test_encrypted_passes if {
	count(ctl.violations) == 0 with input as snap(true)
}

test_unencrypted_fails if {
	ctl.violations == {"the snapshot is not encrypted"} with input as snap(false)
}
