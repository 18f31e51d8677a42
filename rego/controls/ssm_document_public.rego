# An SSM document the account owns is not shared publicly (FSBP SSM.4): `all` among the account ids it is shared with
# lets any AWS account read and run it.
package custos.controls.ssm_document_public

metadata := {
	"id": "ssm-document-public",
	"title": "SSM document is not public",
	"severity": "critical",
	"resource_types": ["AWS::SSM::Document"],
	"frameworks": {
		"aws-fsbp": ["SSM.4"],
		"fedramp-moderate": ["AC-21", "AC-3", "AC-4", "AC-4(21)", "AC-6", "SC-7", "SC-7(3)", "SC-7(4)"],
		"cmmc-2.0-l2": ["AC.L2-3.1.1", "AC.L2-3.1.3", "AC.L2-3.1.22", "SC.L2-3.13.1"],
		"cis-aws-foundations-v3.0": [],
		"nist-800-53-r5": ["AC-21", "AC-3", "AC-3(7)", "AC-4", "AC-4(21)", "AC-6", "SC-7", "SC-7(11)", "SC-7(16)", "SC-7(20)", "SC-7(21)", "SC-7(3)", "SC-7(4)", "SC-7(9)"],
		"nist-800-171-r2": ["3.1.1", "3.1.3", "3.1.22", "3.13.1"],
	},
	"remediation": "ssm-make-document-private",
	"class": "auto",
	"terraform": `resource "aws_ssm_document" "this" {
  name = "{resource_name}"
  permissions = {
    type        = "Share"
    account_ids = "<account-id>" # account ids only, never All; or no permissions at all
  }
  # ... the rest of the document's configuration as it is
}

# Optional: block public sharing of SSM documents in the region.
resource "aws_ssm_service_setting" "public_sharing" {
  setting_id    = "arn:aws:ssm:{region}:{account}:servicesetting/ssm/documents/console/public-sharing-permission"
  setting_value = "Disable"
}
`,
}

accounts := a if {
	a := object.get(input, ["supplementaryConfiguration", "Permissions", "AccountIds"], [])
	is_array(a)
} else := []

violations contains "the document is public: it is shared with `all`, so any AWS account can read and run it" if {
	some a in accounts
	is_string(a)
	lower(a) == "all"
}
