# IAM user has no managed or inline policy of its own and gets its permissions through groups or roles (FSBP IAM.2,
# CIS 1.15). Alert-only: moving permissions into groups changes who can do what; a person designs the groups and
# checks that nobody loses or gains access.
package custos.controls.iam_user_no_attached_policies

metadata := {
	"id": "iam-user-no-attached-policies",
	"title": "IAM user receives permissions only through groups",
	"severity": "low",
	"resource_types": ["AWS::IAM::User"],
	"frameworks": {
		"aws-fsbp": ["IAM.2"],
		"fedramp-moderate": ["AC-2", "AC-2(1)", "AC-3", "AC-6"],
		"cmmc-2.0-l2": ["AC.L2-3.1.1", "AC.L2-3.1.2", "AC.L2-3.1.7", "AU.L2-3.3.9", "SC.L2-3.13.3"],
		"cis-aws-foundations-v3.0": ["1.15"],
		"nist-800-53-r5": ["AC-2", "AC-2(1)", "AC-3", "AC-3(15)", "AC-3(7)", "AC-6", "AC-6(3)"],
		"nist-800-171-r2": ["3.1.1", "3.1.2", "3.1.7", "3.3.9", "3.13.3"],
	},
	"class": "alert",
	"guidance": "Put the user in a group that holds the permissions instead: attach each managed policy to a group (an existing one of the user's role, or a new one), copy each inline policy to the group (`aws iam get-user-policy`, then `aws iam put-group-policy`), add the user to the group, and only then detach or delete the user's own policies. Regrouping changes who can do what, so custos leaves it to a person.",
	"cli": [
		"aws iam create-group --group-name <group-name>",
		"aws iam attach-group-policy --group-name <group-name> --policy-arn <policy-arn>",
		"aws iam get-user-policy --user-name {resource_name} --policy-name <inline-policy-name>",
		"aws iam put-group-policy --group-name <group-name> --policy-name <inline-policy-name> --policy-document file://<policy.json>",
		"aws iam add-user-to-group --group-name <group-name> --user-name {resource_name}",
		"aws iam detach-user-policy --user-name {resource_name} --policy-arn <policy-arn>",
		"aws iam delete-user-policy --user-name {resource_name} --policy-name <inline-policy-name>",
	],
	"terraform": `resource "aws_iam_group" "this" {
  name = "<group-name>"
}

resource "aws_iam_group_policy_attachment" "this" {
  group      = aws_iam_group.this.name
  policy_arn = "<policy-arn>"
}

resource "aws_iam_user_group_membership" "this" {
  user   = "{resource_name}"
  groups = [aws_iam_group.this.name]
}
# and no aws_iam_user_policy or aws_iam_user_policy_attachment for the user
`,
}

list(path) := v if {
	v := object.get(input, ["configuration", path], [])
	is_array(v)
} else := []

label(p) := p.policyName if is_string(object.get(p, "policyName", null))

else := p.policyArn if is_string(object.get(p, "policyArn", null))

else := "unnamed"

violations contains msg if {
	some p in list("attachedManagedPolicies")
	is_object(p)
	msg := sprintf("managed policy `%s` is attached directly to the user", [label(p)])
}

violations contains msg if {
	some p in list("userPolicyList")
	is_object(p)
	msg := sprintf("inline policy `%s` is embedded in the user", [label(p)])
}
