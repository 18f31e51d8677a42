# The account's root user has MFA enabled (FSBP IAM.9, CIS 1.5), from `iam:GetAccountSummary`; a summary that could not
# be read is reported as unknown. Alert-only: only the root user can register its MFA device, and custos never holds
# root credentials.
package custos.controls.iam_root_mfa

metadata := {
	"id": "iam-root-mfa",
	"title": "The root user has MFA enabled",
	"severity": "critical",
	"resource_types": ["Custos::IAM::Account"],
	"frameworks": {
		"aws-fsbp": ["IAM.9"],
		"fedramp-moderate": ["AC-2(1)", "IA-2(1)", "IA-2(2)", "IA-2(6)", "IA-2(8)"],
		"cmmc-2.0-l2": ["IA.L2-3.5.3"],
		"cis-aws-foundations-v3.0": ["1.5"],
		"nist-800-53-r5": ["AC-2(1)", "AC-3(15)", "IA-2(1)", "IA-2(2)", "IA-2(6)", "IA-2(8)"],
		"nist-800-171-r2": ["3.5.3"],
	},
	"class": "alert",
	"guidance": "Sign in as the root user and assign an MFA device (IAM console, Security credentials, Multi-factor authentication: a FIDO security key or a hardware token, kept where the account's owners can reach it). Registering it takes the device and the root password, which custos never has. For a member account of an organization, consider deleting the root credentials altogether with centralized root access (`aws iam delete-login-profile` in a root session from the management account); AWS counts an account without root credentials as compliant, but `AccountMFAEnabled` stays 0, so such an account is still reported here.",
	"cli": [
		"aws iam get-account-summary --query SummaryMap.AccountMFAEnabled",
		"aws sts assume-root --region <region> --target-principal {account} --task-policy-arn arn=arn:aws:iam::aws:policy/root-task/IAMDeleteRootUserCredentials",
		"aws iam delete-login-profile",
	],
	"terraform": `# Terraform cannot register the root user's MFA device. From the organization's management account,
# centralized root access lets member accounts run without root credentials:
resource "aws_iam_organizations_features" "this" {
  enabled_features = ["RootCredentialsManagement", "RootSessions"]
}
`,
}

summary := object.get(input, ["configuration", "AccountSummary"], null)

enabled := object.get(summary, "AccountMFAEnabled", null) if is_object(summary)

unread contains u if {
	list := object.get(input, ["configuration", "Unread"], [])
	is_array(list)
	some u in list
	is_object(u)
	object.get(u, "action", "") == "iam:GetAccountSummary"
}

violations contains "the root user has no MFA device" if {
	is_number(enabled)
	enabled != 1
}

violations contains msg if {
	not is_object(summary)
	some u in unread
	msg := sprintf("the account summary could not be read (`iam:GetAccountSummary`: %v), so whether the root user has MFA is unknown", [object.get(u, "message", "no message")])
}

violations contains "the account summary was not read, so whether the root user has MFA is unknown" if {
	not is_object(summary)
	count(unread) == 0
}

violations contains "the account summary has no `AccountMFAEnabled`, so whether the root user has MFA is unknown" if {
	is_object(summary)
	not is_number(enabled)
}
