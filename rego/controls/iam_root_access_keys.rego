# The account's root user has no access key (FSBP IAM.4, CIS 1.4), from `iam:GetAccountSummary`; a summary that could
# not be read is reported as unknown. Alert-only: only the root user itself (or the organization's management account
# through a root session) can delete a root access key; custos never holds root credentials.
package custos.controls.iam_root_access_keys

metadata := {
	"id": "iam-root-access-keys",
	"title": "The root user has no access keys",
	"severity": "critical",
	"resource_types": ["Custos::IAM::Account"],
	"frameworks": {
		"aws-fsbp": ["IAM.4"],
		"fedramp-moderate": ["AC-2(1)", "AC-6", "AC-6(10)", "AC-6(2)"],
		"cmmc-2.0-l2": ["AC.L2-3.1.5", "AC.L2-3.1.6"],
		"cis-aws-foundations-v3.0": ["1.4"],
		"nist-800-53-r5": ["AC-2(1)", "AC-3(15)", "AC-3(7)", "AC-6", "AC-6(10)", "AC-6(2)"],
		"nist-800-171-r2": ["3.1.5", "3.1.6"],
	},
	"class": "alert",
	"guidance": "Find what still uses the key (its last use: IAM console, Security credentials as root), move that to a role, then delete the key: signed in as root (Security credentials, Access keys, Delete), or, with centralized root access in AWS Organizations, from the management account through a root session (`assume-root` below, then `list-access-keys` and `delete-access-key` with the session's credentials). Root credentials are never custos's to use, so a person does it.",
	"cli": [
		"aws sts assume-root --region <region> --target-principal {account} --task-policy-arn arn=arn:aws:iam::aws:policy/root-task/IAMDeleteRootUserCredentials",
		"aws iam list-access-keys",
		"aws iam delete-access-key --access-key-id <root-access-key-id>",
		"aws iam get-account-summary --query SummaryMap.AccountAccessKeysPresent",
	],
	"terraform": `# Terraform cannot manage root credentials. From the organization's management account,
# centralized root access lets root credentials of member accounts be deleted and kept away:
resource "aws_iam_organizations_features" "this" {
  enabled_features = ["RootCredentialsManagement", "RootSessions"]
}
`,
}

summary := object.get(input, ["configuration", "AccountSummary"], null)

present := object.get(summary, "AccountAccessKeysPresent", null) if is_object(summary)

unread contains u if {
	list := object.get(input, ["configuration", "Unread"], [])
	is_array(list)
	some u in list
	is_object(u)
	object.get(u, "action", "") == "iam:GetAccountSummary"
}

violations contains "the root user has an access key" if {
	is_number(present)
	present != 0
}

violations contains msg if {
	not is_object(summary)
	some u in unread
	msg := sprintf("the account summary could not be read (`iam:GetAccountSummary`: %v), so whether the root user has an access key is unknown", [object.get(u, "message", "no message")])
}

violations contains "the account summary was not read, so whether the root user has an access key is unknown" if {
	not is_object(summary)
	count(unread) == 0
}

violations contains "the account summary has no `AccountAccessKeysPresent`, so whether the root user has an access key is unknown" if {
	is_object(summary)
	not is_number(present)
}
