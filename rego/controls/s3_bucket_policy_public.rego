# A bucket's policy does not let anyone in (FSBP S3.2, S3.3 for policies; ACLs are `s3-block-public-access`'s): no
# statement allows a public principal (`*`, `{"AWS": "*"}`, or any `NotPrincipal`) without a condition that restricts
# the caller (an account, organisation, VPC endpoint, source ARN or address). A bucket whose public access block
# restricts public buckets (`restrictPublicBuckets`) is not public whatever its policy says. Human: the fix edits a
# policy document someone wrote, so a person approves it; the rollback puts the document back as it was.
#
# `public_statements` is shared: the SQS and SNS policy controls call it, so the three agree on what "public" means.
package custos.controls.s3_bucket_policy_public

metadata := {
	"id": "s3-bucket-policy-public",
	"title": "S3 bucket policy does not allow public access",
	"severity": "critical",
	"resource_types": ["AWS::S3::Bucket"],
	"frameworks": {
		"aws-fsbp": ["S3.2", "S3.3"],
		"fedramp-moderate": ["AC-21", "AC-3", "AC-4", "AC-6", "SC-7", "SC-7(3)"],
		"cmmc-2.0-l2": ["AC.L2-3.1.1", "AC.L2-3.1.3", "AC.L2-3.1.22", "SC.L2-3.13.1"],
		"cis-aws-foundations-v3.0": [],
		"nist-800-53-r5": ["AC-21", "AC-3", "AC-3(7)", "AC-4", "AC-4(21)", "AC-6", "SC-7", "SC-7(11)", "SC-7(16)", "SC-7(20)", "SC-7(21)", "SC-7(3)", "SC-7(4)", "SC-7(9)"],
		"nist-800-171-r2": ["3.1.1", "3.1.3", "3.1.22", "3.13.1"],
	},
	"remediation": "s3-remove-public-policy-statements",
	"class": "human",
	"terraform": `# Keep only statements that name who may call: no Principal "*" without a restricting condition.
resource "aws_s3_bucket_policy" "this" {
  bucket = "{resource_name}"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { AWS = "arn:aws:iam::<account-id>:root" }
      Action    = ["<s3-action>"]
      Resource  = ["arn:aws:s3:::{resource_name}/*"]
    }]
  })
}
`,
}

# Condition keys that name who may call (lower case: condition keys are case-insensitive).
restricting_keys := {
	"aws:sourcearn", "aws:sourceaccount", "aws:sourceowner", "aws:sourcevpc", "aws:sourcevpce",
	"aws:sourceip", "aws:sourceorgid", "aws:sourceorgpaths", "aws:principalorgid",
	"aws:principalorgpaths", "aws:principalaccount", "aws:principalarn", "aws:userid",
}

# Keys whose values are ARNs: a pattern pins the caller only through its account field.
arn_keys := {"aws:sourcearn", "aws:principalarn"}

# Operators that hold only when the key is present and matches (negated, `...IfExists` and
# `ForAllValues:` operators also hold when it is absent, so they restrict no one).
restricting_operators := {"stringequals", "stringequalsignorecase", "stringlike", "arnequals", "arnlike", "ipaddress"}

values(v) := [v] if not is_array(v)

values(v) := v if is_array(v)

# A condition value as text: IAM accepts numbers (an account id) and booleans unquoted.
text(x) := x if is_string(x)

text(x) := format_int(x, 10) if is_number(x)

text(x) := sprintf("%v", [x]) if is_boolean(x)

wildcard(x) if contains(x, "*")

wildcard(x) if contains(x, "?")

# An account id or an organisation id in a pattern pins it down (`o-*` or `arn:*` do not).
pinned(x) if regex.match(`[0-9]{12}|o-[a-z0-9]{10,32}`, x)

# Whether a value narrows who can call: an exact value, a pattern with an account or
# organisation id in it, or an address range no wider than /8 (IPv4) or /16 (IPv6).
narrows(key, x) if {
	lower(key) == "aws:sourceip"
	not wildcard(x)
	x != ""
	not contains(x, "/")
}

narrows(key, x) if {
	lower(key) == "aws:sourceip"
	parts := split(x, "/")
	count(parts) == 2
	regex.match(`^[0-9]{1,3}$`, parts[1])
	to_number(parts[1]) >= min_bits(parts[0])
}

min_bits(address) := 16 if contains(address, ":")

min_bits(address) := 8 if not contains(address, ":")

narrows(key, x) if {
	lower(key) != "aws:sourceip"
	x != ""
	not wildcard(x)
}

narrows(key, x) if {
	lower(key) != "aws:sourceip"
	not lower(key) in arn_keys
	wildcard(x)
	pinned(x)
}

# `arn:partition:service:region:account:...` with twelve digits as the account.
narrows(key, x) if {
	lower(key) in arn_keys
	wildcard(x)
	parts := split(x, ":")
	count(parts) > 5
	regex.match(`^[0-9]{12}$`, parts[4])
}

restricts(op, key, v) if {
	base := trim_prefix(lower(op), "foranyvalue:")
	base in restricting_operators
	lower(key) in restricting_keys
	vs := values(v)
	count(vs) > 0
	every x in vs {
		narrows(key, text(x))
	}
}

restricted(s) if {
	some op, keys in object.get(s, "Condition", {})
	is_object(keys)
	some key, v in keys
	restricts(op, key, v)
}

public_principal(p) if p == "*"

public_principal(p) if {
	is_object(p)
	some v in p
	"*" in values(v)
}

public(s) if {
	is_object(s)
	object.get(s, "Effect", "") == "Allow"
	public_principal(object.get(s, "Principal", null))
	not restricted(s)
}

public(s) if {
	is_object(s)
	object.get(s, "Effect", "") == "Allow"
	"NotPrincipal" in object.keys(s)
	not restricted(s)
}

statements(doc) := [doc.Statement] if is_object(doc.Statement)

statements(doc) := doc.Statement if is_array(doc.Statement)

# The statements of the policy text `text` that let anyone in, each named by its Sid or position.
public_statements(text) := {name |
	is_string(text)
	json.is_valid(text)
	doc := json.unmarshal(text)
	is_object(doc)
	some i, s in statements(doc)
	public(s)
	name := statement_name(s, i)
}

# A Sid is the author's text: at most 64 characters of it are shown.
statement_name(s, i) := sprintf("`%s`", [substring(s.Sid, 0, 64)]) if {
	is_string(s.Sid)
	s.Sid != ""
} else := sprintf("number %d", [i + 1])

# `text` is a policy that is not a JSON object: what it allows is unknown.
unreadable(text) if {
	is_string(text)
	not json.is_valid(text)
}

unreadable(text) if {
	is_string(text)
	json.is_valid(text)
	not is_object(json.unmarshal(text))
}

block := object.get(input, ["supplementaryConfiguration", "PublicAccessBlockConfiguration"], {})

policy_text := object.get(input, ["supplementaryConfiguration", "BucketPolicy", "policyText"], null)

violations contains msg if {
	object.get(block, "restrictPublicBuckets", false) != true
	some name in public_statements(policy_text)
	msg := sprintf("the bucket policy's statement %s allows anyone (a public principal without a restricting condition)", [name])
}

violations contains "the bucket policy is not a JSON object, so whether it allows anyone is unknown" if {
	object.get(block, "restrictPublicBuckets", false) != true
	unreadable(policy_text)
}
