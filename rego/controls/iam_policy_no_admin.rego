# The default version of a customer managed policy allows no `"Action": "*"` on `"Resource": "*"` (FSBP IAM.1,
# CIS 1.16; `NotAction` does not count). Alert-only: narrowing a policy in use can break whoever relies on it, and
# least privilege needs a person who knows which actions are used.
package custos.controls.iam_policy_no_admin

metadata := {
	"id": "iam-policy-no-admin",
	"title": "Customer managed IAM policy does not grant full administrative privileges",
	"severity": "high",
	"resource_types": ["AWS::IAM::Policy"],
	"frameworks": {
		"aws-fsbp": ["IAM.1"],
		"fedramp-moderate": ["AC-2", "AC-2(1)", "AC-3", "AC-5", "AC-6", "AC-6(10)", "AC-6(2)"],
		"cmmc-2.0-l2": ["AC.L2-3.1.4", "AC.L2-3.1.5"],
		"cis-aws-foundations-v3.0": ["1.16"],
		"nist-800-53-r5": ["AC-2", "AC-2(1)", "AC-3", "AC-3(15)", "AC-3(7)", "AC-5", "AC-6", "AC-6(10)", "AC-6(2)", "AC-6(3)"],
		"nist-800-171-r2": ["3.1.4", "3.1.5"],
	},
	"class": "alert",
	"guidance": "See who holds the policy and which services they use (`list-entities-for-policy`, `generate-service-last-accessed-details`, or IAM Access Analyzer's policy generation from CloudTrail), write a policy with only those actions and resources, and make it the default version (a policy keeps at most five versions: delete an old one with `aws iam delete-policy-version` first if needed). Where full administration is really needed, grant it to a role assumed with MFA rather than through a customer policy. The ARN below assumes the policy's path is `/`. Narrowing it can break its users, so custos leaves it to a person.",
	"cli": [
		"aws iam list-entities-for-policy --policy-arn arn:aws:iam::{account}:policy/{resource_name}",
		"aws iam generate-service-last-accessed-details --arn arn:aws:iam::{account}:policy/{resource_name}",
		"aws iam get-service-last-accessed-details --job-id <job-id>",
		"aws iam create-policy-version --policy-arn arn:aws:iam::{account}:policy/{resource_name} --policy-document file://<least-privilege-policy.json> --set-as-default",
	],
	"terraform": `resource "aws_iam_policy" "this" {
  name = "{resource_name}"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["<service>:<Action>"]
      Resource = ["<resource-arn>"]
    }]
  })
}
`,
}

versions := v if {
	v := object.get(input, ["configuration", "policyVersionList"], [])
	is_array(v)
} else := []

default_id := object.get(input, ["configuration", "defaultVersionId"], null)

# The default version: flagged `isDefaultVersion`, or named by `defaultVersionId`.
defaults contains v if {
	some v in versions
	is_object(v)
	object.get(v, "isDefaultVersion", false) == true
}

defaults contains v if {
	some v in versions
	is_object(v)
	is_string(default_id)
	object.get(v, "versionId", null) == default_id
}

# AWS Config records the document URL-encoded; also accepted: plain JSON text, or an object.
document(d) := d if is_object(d)

document(d) := json.unmarshal(d) if {
	is_string(d)
	json.is_valid(d)
}

document(d) := json.unmarshal(s) if {
	is_string(d)
	not json.is_valid(d)
	s := url_decode(d)
	json.is_valid(s)
}

# Percent-decoding, with `+` as a space (as `urlquery.decode`, which this build of the engine lacks, does). Undefined
# when a `%` is not followed by two hex digits.
url_decode(s) := decoded if {
	not regex.match(`%([^0-9A-Fa-f]|[0-9A-Fa-f][^0-9A-Fa-f]|[0-9A-Fa-f]?$)`, s)
	decoded := decode_valid(replace(s, "+", " "))
}

# ASCII only: one replacement per escape, `%25` last so that a decoded `%` is never decoded again.
decode_valid(s) := replace(strings.replace_n(ascii_escapes, s), "%25", "%") if {
	not regex.match(`%[89A-Fa-f][0-9A-Fa-f]`, s)
}

# Escaped bytes above 0x7F (UTF-8 sequences): through hex, so that multi-byte characters survive.
else := hex.decode(concat("", array.concat([hex.encode(parts[0])], escaped))) if {
	parts := split(s, "%")
	escaped := [x | some p in array.slice(parts, 1, count(parts)); x := concat("", [substring(p, 0, 2), hex.encode(substring(p, 2, -1))])]
}

# `%XX` -> the ASCII character, upper- and lower-case hex, `%25` left out (decoded last).
ascii_escapes := {
	"%00": "\u0000", "%01": "\u0001", "%02": "\u0002", "%03": "\u0003", "%04": "\u0004", "%05": "\u0005",
	"%06": "\u0006", "%07": "\u0007", "%08": "\u0008", "%09": "\u0009", "%0A": "\u000a", "%0a": "\u000a",
	"%0B": "\u000b", "%0b": "\u000b", "%0C": "\u000c", "%0c": "\u000c", "%0D": "\u000d", "%0d": "\u000d",
	"%0E": "\u000e", "%0e": "\u000e", "%0F": "\u000f", "%0f": "\u000f", "%10": "\u0010", "%11": "\u0011",
	"%12": "\u0012", "%13": "\u0013", "%14": "\u0014", "%15": "\u0015", "%16": "\u0016", "%17": "\u0017",
	"%18": "\u0018", "%19": "\u0019", "%1A": "\u001a", "%1a": "\u001a", "%1B": "\u001b", "%1b": "\u001b",
	"%1C": "\u001c", "%1c": "\u001c", "%1D": "\u001d", "%1d": "\u001d", "%1E": "\u001e", "%1e": "\u001e",
	"%1F": "\u001f", "%1f": "\u001f", "%20": " ", "%21": "!", "%22": "\"", "%23": "#", "%24": "$",
	"%26": "&", "%27": "'", "%28": "(", "%29": ")", "%2A": "*", "%2a": "*", "%2B": "+", "%2b": "+",
	"%2C": ",", "%2c": ",", "%2D": "-", "%2d": "-", "%2E": ".", "%2e": ".", "%2F": "/", "%2f": "/",
	"%30": "0", "%31": "1", "%32": "2", "%33": "3", "%34": "4", "%35": "5", "%36": "6", "%37": "7",
	"%38": "8", "%39": "9", "%3A": ":", "%3a": ":", "%3B": ";", "%3b": ";", "%3C": "<", "%3c": "<",
	"%3D": "=", "%3d": "=", "%3E": ">", "%3e": ">", "%3F": "?", "%3f": "?", "%40": "@", "%41": "A",
	"%42": "B", "%43": "C", "%44": "D", "%45": "E", "%46": "F", "%47": "G", "%48": "H", "%49": "I",
	"%4A": "J", "%4a": "J", "%4B": "K", "%4b": "K", "%4C": "L", "%4c": "L", "%4D": "M", "%4d": "M",
	"%4E": "N", "%4e": "N", "%4F": "O", "%4f": "O", "%50": "P", "%51": "Q", "%52": "R", "%53": "S",
	"%54": "T", "%55": "U", "%56": "V", "%57": "W", "%58": "X", "%59": "Y", "%5A": "Z", "%5a": "Z",
	"%5B": "[", "%5b": "[", "%5C": "\\", "%5c": "\\", "%5D": "]", "%5d": "]", "%5E": "^", "%5e": "^",
	"%5F": "_", "%5f": "_", "%60": "`", "%61": "a", "%62": "b", "%63": "c", "%64": "d", "%65": "e",
	"%66": "f", "%67": "g", "%68": "h", "%69": "i", "%6A": "j", "%6a": "j", "%6B": "k", "%6b": "k",
	"%6C": "l", "%6c": "l", "%6D": "m", "%6d": "m", "%6E": "n", "%6e": "n", "%6F": "o", "%6f": "o",
	"%70": "p", "%71": "q", "%72": "r", "%73": "s", "%74": "t", "%75": "u", "%76": "v", "%77": "w",
	"%78": "x", "%79": "y", "%7A": "z", "%7a": "z", "%7B": "{", "%7b": "{", "%7C": "|", "%7c": "|",
	"%7D": "}", "%7d": "}", "%7E": "~", "%7e": "~", "%7F": "\u007f", "%7f": "\u007f",
}

as_list(v) := [v] if is_string(v)

as_list(v) := v if is_array(v)

as_list(v) := [] if {
	not is_string(v)
	not is_array(v)
}

statements(doc) := [s] if {
	s := object.get(doc, "Statement", null)
	is_object(s)
}

statements(doc) := [s | some s in object.get(doc, "Statement", null)] if is_array(object.get(doc, "Statement", null))

statements(doc) := [] if {
	s := object.get(doc, "Statement", null)
	not is_object(s)
	not is_array(s)
}

admin(st) if {
	is_object(st)
	object.get(st, "Effect", "") == "Allow"
	some a in as_list(object.get(st, "Action", []))
	a in {"*", "*:*"}
	some r in as_list(object.get(st, "Resource", []))
	r == "*"
}

attachments := object.get(input, ["configuration", "attachmentCount"], null)

attached_text := "; it is not attached to any user, group or role" if {
	attachments == 0
} else := "; it is attached to 1 user, group or role" if {
	attachments == 1
} else := sprintf("; it is attached to %d users, groups or roles", [attachments]) if {
	is_number(attachments)
} else := ""

sid_text(st) := sprintf("statement `%s`", [st.Sid]) if is_string(object.get(st, "Sid", null))

else := "a statement"

# Each default version's document, parsed once: [version id, object or null when it cannot be decoded].
parsed contains [object.get(v, "versionId", "?"), parse(d)] if {
	some v in defaults
	d := object.get(v, "document", null)
	d != null
}

parse(d) := doc if {
	doc := document(d)
	is_object(doc)
} else := null

violations contains msg if {
	some [vid, doc] in parsed
	is_object(doc)
	some st in statements(doc)
	admin(st)
	msg := sprintf("%s of the default version %v allows every action on every resource (`\"Action\": \"*\"`, `\"Resource\": \"*\"`)%s", [sid_text(st), vid, attached_text])
}

# A document that is there but cannot be read is unknown, never compliant.
violations contains msg if {
	some [vid, doc] in parsed
	doc == null
	msg := sprintf("the document of the default version %v could not be decoded, so whether it grants full administrative privileges is unknown", [vid])
}
