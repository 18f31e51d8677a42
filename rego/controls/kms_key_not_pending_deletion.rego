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
	"guidance": "Data encrypted under a deleted key cannot be decrypted. If the deletion was not intended, cancel it and enable the key again (a cancelled key comes back disabled); if it was, check with CloudTrail (`Decrypt` and `GenerateDataKey` events naming the key) that nothing still uses it. custos never cancels or schedules key deletion itself.",
	"cli": [
		"aws kms cancel-key-deletion --region {region} --key-id {resource_id}",
		"aws kms enable-key --region {region} --key-id {resource_id}",
	],
	"terraform": `# Terraform cannot cancel a scheduled deletion: run the two commands, then keep the key managed:
resource "aws_kms_key" "this" {
  description             = "<description>"
  is_enabled              = true
  enable_key_rotation     = true
  deletion_window_in_days = 30
}
`,
}

violations contains msg if {
	input.configuration.keyManager == "CUSTOMER"
	input.configuration.keyState == "PendingDeletion"
	msg := sprintf("the key is scheduled for deletion on `%s`", [object.get(input.configuration, "deletionDate", "unknown")])
}
