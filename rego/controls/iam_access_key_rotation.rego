# An active IAM access key is younger than `[controls] access_key_max_age_days` (90 by default; FSBP IAM.3, CIS 1.14),
# counted from its creation to the item's capture time. Alert-only: rotating means delivering a new secret to
# everything that uses the key, which custos cannot reach; deactivating the old key before that breaks them.
package custos.controls.iam_access_key_rotation

metadata := {
	"id": "iam-access-key-rotation",
	"title": "IAM user's active access keys are rotated within the configured maximum age",
	"severity": "medium",
	"resource_types": ["AWS::IAM::User"],
	"frameworks": {
		"aws-fsbp": ["IAM.3"],
		"fedramp-moderate": ["AC-2(1)", "AC-2(3)"],
		"cmmc-2.0-l2": ["AC.L2-3.1.1"],
		"cis-aws-foundations-v3.0": ["1.14"],
		"nist-800-53-r5": ["AC-2(1)", "AC-2(3)", "AC-3(15)"],
		"nist-800-171-r2": ["3.1.1"],
	},
	"class": "alert",
	"guidance": "Create a second key, deliver it to everything that uses the old one (its secret is shown once), watch the old key's last use stop (`aws iam get-access-key-last-used`), then deactivate and later delete the old key. A user holds at most two keys: delete an inactive one first if it has two. Better still, replace the key with a role (instance profile, IAM Roles Anywhere, OIDC federation). The delivery happens outside AWS, so custos leaves rotation to a person.",
	"cli": [
		"aws iam create-access-key --user-name {resource_name}",
		"aws iam get-access-key-last-used --access-key-id <old-access-key-id>",
		"aws iam update-access-key --user-name {resource_name} --access-key-id <old-access-key-id> --status Inactive",
		"aws iam delete-access-key --user-name {resource_name} --access-key-id <old-access-key-id>",
	],
	"terraform": `resource "aws_iam_access_key" "this" {
  user = "{resource_name}"
  lifecycle {
    create_before_destroy = true
  }
}
# Rotate: terraform apply -replace=aws_iam_access_key.this, then deliver
# aws_iam_access_key.this.secret to the key's users.
`,
}

settings := object.get(data, ["custos", "config", "settings"], {})

max_days := object.get(settings, "access_key_max_age_days", 90)

day_ns := 86400000000000

rfc3339 := `^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?(Z|z|[+-][0-9]{2}:[0-9]{2})$`

# A timestamp in nanoseconds; undefined (never an error) for anything that is not RFC 3339.
ns(t) := time.parse_rfc3339_ns(t) if {
	is_string(t)
	regex.match(rfc3339, t)
}

# "Now" is the item's capture time, so that a decision replays; without it, nothing is reported.
now := ns(object.get(input, "configurationItemCaptureTime", null))

credentials := object.get(input, ["supplementaryConfiguration", "Credentials"], null)

keys := k if {
	is_object(credentials)
	k := object.get(credentials, "accessKeys", [])
	is_array(k)
} else := []

days_text(n) := "1 day" if n == 1

days_text(n) := sprintf("%d days", [n]) if n != 1

violations contains msg if {
	some k in keys
	is_object(k)
	object.get(k, "status", "") == "Active"
	days := floor((now - ns(object.get(k, "createDate", null))) / day_ns)
	days > max_days
	msg := sprintf("active access key %v was created %s ago, more than the allowed %d", [object.get(k, "accessKeyId", "unknown"), days_text(days), max_days])
}
