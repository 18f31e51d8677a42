package custos.controls.rds_snapshot_public_test

import data.custos.controls.rds_snapshot_public as ctl

snap(attrs) := {"resourceType": "AWS::RDS::DBSnapshot", "resourceId": "orders-2024", "resourceName": "orders-2024", "configuration": {"dBSnapshotIdentifier": "orders-2024", "encrypted": true, "snapshotType": "manual"}, "supplementaryConfiguration": {"DBSnapshotAttributes": attrs}}

public_msg := "the snapshot is public: its `restore` attribute includes `all`, so any AWS account can restore it"

test_private_snapshot_passes if {
	count(ctl.violations) == 0 with input as snap([{"attributeName": "restore", "attributeValues": []}])
}

test_snapshot_shared_with_an_account_passes if {
	count(ctl.violations) == 0 with input as snap([{"attributeName": "restore", "attributeValues": ["123456789012"]}])
}

test_public_snapshot_fails if {
	ctl.violations == {public_msg} with input as snap([{"attributeName": "restore", "attributeValues": ["all", "123456789012"]}])
}

test_all_in_another_attribute_passes if {
	count(ctl.violations) == 0 with input as snap([{"attributeName": "other", "attributeValues": ["all"]}])
}

test_null_values_pass if {
	count(ctl.violations) == 0 with input as snap([{"attributeName": "restore", "attributeValues": null}])
}

test_null_attributes_pass if {
	count(ctl.violations) == 0 with input as snap(null)
}

test_empty_input_passes if {
	count(ctl.violations) == 0 with input as {}
}
