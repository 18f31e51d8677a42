# The account's password policy is strong (FSBP IAM.7, CIS 1.8, 1.9): length, four character classes, reuse history
# (`[controls] password_min_length` 14, `password_reuse_prevention` 24); one finding per shortfall, unknown if unread.
# Alert-only: the policy binds every IAM user at their next password change, setting it replaces the whole policy, and
# identity changes are never custos's to make (the floor denies class `iam`).
package custos.controls.iam_password_policy

metadata := {
	"id": "iam-password-policy",
	"title": "The account's IAM password policy is strong",
	"severity": "medium",
	"resource_types": ["Custos::IAM::Account"],
	"frameworks": {
		"aws-fsbp": ["IAM.7"],
		"fedramp-moderate": ["AC-2(1)", "AC-2(3)", "IA-5(1)"],
		"cmmc-2.0-l2": ["IA.L2-3.5.2", "IA.L2-3.5.7", "IA.L2-3.5.8"],
		"cis-aws-foundations-v3.0": ["1.8", "1.9"],
		"nist-800-53-r5": ["AC-2(1)", "AC-2(3)", "AC-3(15)", "IA-5(1)"],
		"nist-800-171-r2": ["3.5.2", "3.5.7", "3.5.8"],
	},
	"class": "alert",
	"guidance": "Set the policy to the lengths custos.toml requires (`[controls] password_min_length`, 14 by default, and `password_reuse_prevention`, 24), with all four character classes. The call replaces the whole policy: read it first and repeat any maximum age, hard expiry or self-service setting it has, or they are reset. Users meet the new policy at their next password change; tell them first.",
	"cli": [
		"aws iam get-account-password-policy",
		"aws iam update-account-password-policy --minimum-password-length 14 --require-symbols --require-numbers --require-uppercase-characters --require-lowercase-characters --password-reuse-prevention 24 --allow-users-to-change-password",
	],
	"terraform": `resource "aws_iam_account_password_policy" "strict" {
  minimum_password_length        = 14
  require_symbols                = true
  require_numbers                = true
  require_uppercase_characters   = true
  require_lowercase_characters   = true
  password_reuse_prevention      = 24
  allow_users_to_change_password = true
}
`,
}

settings := object.get(data, ["custos", "config", "settings"], {})

min_length := object.get(settings, "password_min_length", 14)

min_reuse := object.get(settings, "password_reuse_prevention", 24)

configuration := c if {
	c := object.get(input, "configuration", {})
	is_object(c)
} else := {}

# Absent: not read. JSON null: the account has no password policy.
read if "PasswordPolicy" in object.keys(configuration)

policy := configuration.PasswordPolicy

unread contains u if {
	list := object.get(configuration, "Unread", [])
	is_array(list)
	some u in list
	is_object(u)
	object.get(u, "action", "") == "iam:GetAccountPasswordPolicy"
}

violations contains msg if {
	not read
	some u in unread
	msg := sprintf("the password policy could not be read (`iam:GetAccountPasswordPolicy`: %v), so whether it is strong is unknown", [object.get(u, "message", "no message")])
}

violations contains "the password policy was not read, so whether it is strong is unknown" if {
	not read
	count(unread) == 0
}

violations contains "the account has no password policy" if {
	read
	policy == null
}

violations contains "the password policy is not an object, so whether it is strong is unknown" if {
	read
	policy != null
	not is_object(policy)
}

length := object.get(policy, "MinimumPasswordLength", null) if is_object(policy)

violations contains msg if {
	is_number(length)
	length < min_length
	msg := sprintf("passwords may be %d characters long, shorter than the required %d", [length, min_length])
}

violations contains msg if {
	is_object(policy)
	not is_number(length)
	msg := sprintf("the password policy sets no minimum length; at least %d characters are required", [min_length])
}

requirements := {
	"RequireSymbols": "a symbol",
	"RequireNumbers": "a number",
	"RequireUppercaseCharacters": "an uppercase letter",
	"RequireLowercaseCharacters": "a lowercase letter",
}

violations contains msg if {
	is_object(policy)
	some field, what in requirements
	object.get(policy, field, false) != true
	msg := sprintf("the password policy does not require %s (`%s` is off)", [what, field])
}

reuse := object.get(policy, "PasswordReusePrevention", null) if is_object(policy)

violations contains msg if {
	is_number(reuse)
	reuse < min_reuse
	msg := sprintf("the password policy remembers the last %d passwords, fewer than the required %d", [reuse, min_reuse])
}

violations contains msg if {
	is_object(policy)
	not is_number(reuse)
	min_reuse > 0
	msg := sprintf("the password policy allows reusing passwords; the last %d must be remembered", [min_reuse])
}
