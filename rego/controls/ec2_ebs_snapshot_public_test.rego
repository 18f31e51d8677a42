package custos.controls.ec2_ebs_snapshot_public_test

import data.custos.controls.ec2_ebs_snapshot_public as ctl

snap(perms) := {"resourceType": "AWS::EC2::Snapshot", "resourceId": "snap-0123", "configuration": {"snapshotId": "snap-0123", "encrypted": false}, "supplementaryConfiguration": {"CreateVolumePermissions": perms}}

public_msg := "the snapshot is public: any AWS account can create a volume from it (create-volume permission for group `all`)"

test_private_snapshot_passes if {
	count(ctl.violations) == 0 with input as snap([])
}

test_snapshot_shared_with_an_account_passes if {
	count(ctl.violations) == 0 with input as snap([{"userId": "123456789012"}])
}

test_public_snapshot_fails if {
	ctl.violations == {public_msg} with input as snap([{"userId": "123456789012"}, {"group": "all"}])
}

test_unread_permissions_pass if {
	count(ctl.violations) == 0 with input as {"resourceType": "AWS::EC2::Snapshot", "configuration": {"snapshotId": "snap-0123"}}
}

test_odd_entries_pass if {
	count(ctl.violations) == 0 with input as snap(["all", null, {"group": null}])
}

test_empty_input_passes if {
	count(ctl.violations) == 0 with input as {}
}
