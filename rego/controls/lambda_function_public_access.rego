# A function's resource-based policy does not let anyone invoke it (FSBP Lambda.1): no statement allows a public
# principal without a condition that restricts the caller, as `s3-bucket-policy-public` decides it (its `public`), and
# no statement lets Amazon S3 invoke it without naming the bucket owner's account (`AWS:SourceAccount`): a bucket ARN
# names no account, so any account's bucket of that name could. Human: the fix removes permissions someone granted
# (a public function URL stops answering); the rollback adds them back. The policy is custos's addition to Config's
# item (`supplementaryConfiguration.Policy.policyText`, read with `lambda:GetPolicy`).
package custos.controls.lambda_function_public_access

import data.custos.controls.s3_bucket_policy_public as policies

metadata := {
	"id": "lambda-function-public-access",
	"title": "Lambda function policy does not allow public invocation",
	"severity": "critical",
	"resource_types": ["AWS::Lambda::Function"],
	"frameworks": {
		"aws-fsbp": ["Lambda.1"],
		"fedramp-moderate": ["AC-21", "AC-3", "AC-4", "AC-6", "SC-7", "SC-7(3)"],
		"cmmc-2.0-l2": ["AC.L2-3.1.1", "AC.L2-3.1.3", "AC.L2-3.1.22", "SC.L2-3.13.1"],
		"cis-aws-foundations-v3.0": [],
		"nist-800-53-r5": ["AC-21", "AC-3", "AC-3(7)", "AC-4", "AC-4(21)", "AC-6", "SC-7", "SC-7(11)", "SC-7(16)", "SC-7(20)", "SC-7(21)", "SC-7(3)", "SC-7(4)", "SC-7(9)"],
		"nist-800-171-r2": ["3.1.1", "3.1.3", "3.1.22", "3.13.1"],
	},
	"remediation": "lambda-remove-public-permissions",
	"class": "human",
	"terraform": `# Remove each aws_lambda_permission with principal = "*" and no source_account, source_arn
# or principal_org_id (a public function URL: authorization_type = "AWS_IAM" on its
# aws_lambda_function_url). A permission for Amazon S3 names the bucket owner's account:
resource "aws_lambda_permission" "s3" {
  statement_id   = "<statement-id>"
  action         = "lambda:InvokeFunction"
  function_name  = "{resource_name}"
  principal      = "s3.amazonaws.com"
  source_arn     = "arn:aws:s3:::<bucket-name>"
  source_account = "{account}"
}
`,
}

policy_text := object.get(input, ["supplementaryConfiguration", "Policy", "policyText"], null)

# Amazon S3 as the principal, alone or in a list.
s3_service(s) if {
	p := object.get(s, "Principal", null)
	is_object(p)
	"s3.amazonaws.com" in policies.values(object.get(p, "Service", []))
}

# A condition that names the bucket owner's account.
owner_named(s) if {
	some op, keys in object.get(s, "Condition", {})
	is_object(keys)
	some key, v in keys
	lower(key) == "aws:sourceaccount"
	policies.restricts(op, key, v)
}

# S3 may invoke the function for a bucket in any account.
s3_unscoped(s) if {
	is_object(s)
	object.get(s, "Effect", "") == "Allow"
	s3_service(s)
	not owner_named(s)
}

open_statement(s) if policies.public(s)

open_statement(s) if s3_unscoped(s)

# The statements that let anyone (or any account's bucket) invoke the function, each named by its Sid or position.
open_statements(text) := {name |
	is_string(text)
	json.is_valid(text)
	doc := json.unmarshal(text)
	is_object(doc)
	some i, s in policies.statements(doc)
	open_statement(s)
	name := statement_name(s, i)
}

# A statement's id in full (Lambda's are at most 100 characters; 128 are shown), or its position: the fix verifies
# itself on this name, so two ids must never be shown alike.
statement_name(s, i) := sprintf("`%s`", [substring(s.Sid, 0, 128)]) if {
	is_string(s.Sid)
	s.Sid != ""
} else := sprintf("number %d", [i + 1])

violations contains msg if {
	some name in open_statements(policy_text)
	msg := sprintf("the function policy's statement %s lets anyone invoke it (a public principal, or Amazon S3 without the bucket owner's account)", [name])
}

violations contains "the function policy is not a JSON object, so whether it allows anyone is unknown" if {
	policies.unreadable(policy_text)
}
