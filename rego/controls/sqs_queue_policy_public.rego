# A queue's access policy does not let anyone in (FSBP SQS.3): no statement allows a public principal without a
# condition that restricts the caller, as `s3-bucket-policy-public` decides it (its `public_statements`).
# Human: the fix edits a policy document someone wrote; the rollback puts it back as it was. The policy is custos's
# addition to Config's item (`supplementaryConfiguration.Policy.policyText`: Config does not record it).
package custos.controls.sqs_queue_policy_public

import data.custos.controls.s3_bucket_policy_public as policies

metadata := {
	"id": "sqs-queue-policy-public",
	"title": "SQS queue access policy does not allow public access",
	"severity": "critical",
	"resource_types": ["AWS::SQS::Queue"],
	"frameworks": {
		"aws-fsbp": ["SQS.3"],
		"fedramp-moderate": ["AC-21", "AC-3", "AC-4", "AC-6", "SC-7", "SC-7(3)"],
		"cmmc-2.0-l2": ["AC.L2-3.1.1", "AC.L2-3.1.3", "AC.L2-3.1.22", "SC.L2-3.13.1"],
		"cis-aws-foundations-v3.0": [],
		"nist-800-53-r5": ["AC-21", "AC-3", "AC-3(7)", "AC-4", "AC-4(21)", "AC-6", "SC-7", "SC-7(11)", "SC-7(16)", "SC-7(20)", "SC-7(21)", "SC-7(3)", "SC-7(4)", "SC-7(9)"],
		"nist-800-171-r2": ["3.1.1", "3.1.3", "3.1.22", "3.13.1"],
	},
	"remediation": "sqs-remove-public-policy-statements",
	"class": "human",
	"terraform": `# Keep only statements that name who may call: no Principal "*" without a restricting condition.
resource "aws_sqs_queue_policy" "this" {
  queue_url = "{resource_id}"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { AWS = "arn:aws:iam::<account-id>:root" }
      Action    = ["sqs:SendMessage"]
      Resource  = "arn:aws:sqs:{region}:{account}:{resource_name}"
    }]
  })
}
`,
}

policy_text := object.get(input, ["supplementaryConfiguration", "Policy", "policyText"], null)

violations contains msg if {
	some name in policies.public_statements(policy_text)
	msg := sprintf("the queue policy's statement %s allows anyone (a public principal without a restricting condition)", [name])
}

violations contains "the queue policy is not a JSON object, so whether it allows anyone is unknown" if {
	policies.unreadable(policy_text)
}
