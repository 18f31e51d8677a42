package custos.controls.rds_snapshot_encrypted_test

import data.custos.controls.rds_snapshot_encrypted as ctl

snap(cfg) := {"resourceType": "AWS::RDS::DBSnapshot", "resourceId": "orders-2024", "resourceName": "orders-2024", "configuration": object.union({"dBSnapshotIdentifier": "orders-2024", "snapshotType": "manual"}, cfg)}

test_encrypted_snapshot_passes if {
	count(ctl.violations) == 0 with input as snap({"encrypted": true})
}

test_unencrypted_manual_snapshot_fails if {
	ctl.violations == {"the snapshot is not encrypted"} with input as snap({"encrypted": false})
}

test_unencrypted_automated_snapshot_fails if {
	ctl.violations == {"the automated snapshot is not encrypted: its instance is not encrypted (see `rds-storage-encrypted`)"} with input as snap({"encrypted": false, "snapshotType": "automated"})
}

test_absent_flag_fails if {
	ctl.violations == {"the snapshot is not encrypted"} with input as snap({})
}

test_empty_input_does_not_error if {
	ctl.violations == {"the snapshot is not encrypted"} with input as {}
}
