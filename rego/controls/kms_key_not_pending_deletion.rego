# Customer managed KMS key is not scheduled for deletion. Alert-only: a person acts on the finding; custos never executes anything for it.
package custos.controls.kms_key_not_pending_deletion

metadata := {
	"id": "kms-key-not-pending-deletion",
	"title": "Customer managed KMS key is not scheduled for deletion",
	"severity": "high",
	"resource_types": ["AWS::KMS::Key"],
	"frameworks": {
		"aws-fsbp": ["KMS.3"],
		"fedramp-moderate": ["SC-12"],
		"cmmc-2.0-l2": ["SC.L2-3.13.10"],
		"cis-aws-foundations-v3.0": [],
		"nist-800-53-r5": ["SC-12"],
		"nist-800-171-r2": ["3.13.10"],
	},
	"class": "alert",
	"guidance": "Data encrypted under a deleted key cannot be decrypted. If the deletion was not intended, cancel it (`aws kms cancel-key-deletion --key-id <id>`, then `aws kms enable-key --key-id <id>`); custos never cancels or schedules key deletion itself.",
}

violations contains msg if {
	input.configuration.keyManager == "CUSTOMER"
	input.configuration.keyState == "PendingDeletion"
	msg := sprintf("the key is scheduled for deletion on `%s`", [object.get(input.configuration, "deletionDate", "unknown")])
}
