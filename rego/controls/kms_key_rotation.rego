# Customer managed symmetric keys rotate yearly (FSBP KMS.4, CIS 3.6). Human: the floor never automates KMS.
package custos.controls.kms_key_rotation

metadata := {
	"id": "kms-key-rotation",
	"title": "Customer managed KMS key rotates automatically",
	"severity": "medium",
	"resource_types": ["AWS::KMS::Key"],
	"frameworks": {
		"aws-fsbp": ["KMS.4"],
		"fedramp-moderate": ["SC-12"],
		"cmmc-2.0-l2": ["SC.L2-3.13.10"],
		"cis-aws-foundations-v3.0": ["3.6"],
		"nist-800-53-r5": ["SC-12"],
		"nist-800-171-r2": ["3.13.10"],
	},
	"remediation": "kms-enable-key-rotation",
	"class": "human",
	"terraform": `resource "aws_kms_key" "this" {
  enable_key_rotation = true
  # ... the rest of the key's configuration as it is
}
`,
}

settings := object.get(data, ["custos", "config", "settings"], {})

# Only customer managed symmetric keys in use can rotate; the status is read for those.
violations contains "automatic key rotation is off" if {
	input.configuration.keyManager == "CUSTOMER"
	input.configuration.keySpec == "SYMMETRIC_DEFAULT"
	input.configuration.keyState == "Enabled"
	input.supplementaryConfiguration.KeyRotationStatus == false
}
