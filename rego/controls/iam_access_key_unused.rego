# An active IAM access key was used within `[controls] access_key_max_unused_days` (90) of the item's capture time, or
# created within it if never used (FSBP IAM.8). Alert-only: deactivating a key breaks whatever still holds it (a yearly
# job, a forgotten integration), and identity changes are never custos's to make (the floor denies class `iam`); the
# finding names the key and carries the commands a person runs after asking its owner.
package custos.controls.iam_access_key_unused

metadata := {
	"id": "iam-access-key-unused",
	"title": "IAM user has no active access key unused for longer than the configured maximum",
	"severity": "medium",
	"resource_types": ["AWS::IAM::User"],
	"frameworks": {
		"aws-fsbp": ["IAM.8"],
		"fedramp-moderate": ["AC-2", "AC-2(1)", "AC-2(3)", "AC-3", "AC-6"],
		"cmmc-2.0-l2": ["AC.L2-3.1.2", "IA.L2-3.5.6"],
		"cis-aws-foundations-v3.0": [],
		"nist-800-53-r5": ["AC-2", "AC-2(1)", "AC-2(3)", "AC-3", "AC-3(15)", "AC-3(7)", "AC-6"],
		"nist-800-171-r2": ["3.1.2", "3.5.6"],
	},
	"class": "alert",
	"guidance": "Ask the user's owner whether anything still holds the key the finding names (a yearly job, a forgotten integration). Check its last use, then deactivate it: a deactivated key can be activated again if something breaks. Delete it once nothing has complained for a while. Identity changes are never made by custos: a person decides and applies them.",
	"cli": [
		"aws iam get-access-key-last-used --access-key-id <access-key-id>",
		"aws iam update-access-key --user-name {resource_name} --access-key-id <access-key-id> --status Inactive",
		"aws iam update-access-key --user-name {resource_name} --access-key-id <access-key-id> --status Active",
		"aws iam delete-access-key --user-name {resource_name} --access-key-id <access-key-id>",
	],
	"terraform": `# A key Terraform manages: set it inactive, apply, and remove the resource later.
resource "aws_iam_access_key" "unused" {
  user   = "{resource_name}"
  status = "Inactive"
}
`,
}

settings := object.get(data, ["custos", "config", "settings"], {})

max_days := object.get(settings, "access_key_max_unused_days", 90)

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

active contains k if {
	some k in keys
	is_object(k)
	object.get(k, "status", "") == "Active"
}

days_text(n) := "1 day" if n == 1

days_text(n) := sprintf("%d days", [n]) if n != 1

violations contains msg if {
	some k in active
	last := object.get(k, "lastUsedDate", null)
	now - ns(last) > max_days * day_ns
	days := ceil((now - ns(last)) / day_ns)
	msg := sprintf("active access key %v has not been used for %s, more than the allowed %d", [object.get(k, "accessKeyId", "unknown"), days_text(days), max_days])
}

violations contains msg if {
	some k in active
	object.get(k, "lastUsedDate", null) == null
	age := now - ns(object.get(k, "createDate", null))
	age > max_days * day_ns
	days := ceil(age / day_ns)
	msg := sprintf("active access key %v has never been used and was created %s ago, more than the allowed %d", [object.get(k, "accessKeyId", "unknown"), days_text(days), max_days])
}
