# SQS queues encrypt messages at rest: SSE-SQS, or SSE-KMS (FSBP SQS.1).
package custos.controls.sqs_queue_encryption

metadata := {
	"id": "sqs-queue-encryption",
	"title": "SQS queue encrypts messages at rest",
	"severity": "medium",
	"resource_types": ["AWS::SQS::Queue"],
	"frameworks": {
		"aws-fsbp": ["SQS.1"],
		"fedramp-moderate": ["SC-28", "SC-28(1)"],
		"cmmc-2.0-l2": ["SC.L2-3.13.16"],
		"cis-aws-foundations-v3.0": [],
		"nist-800-53-r5": ["SC-28", "SC-28(1)"],
		"nist-800-171-r2": ["3.13.16"],
	},
	"remediation": "sqs-enable-sse",
	"class": "auto",
	"terraform": `resource "aws_sqs_queue" "this" {
  name                    = "{resource_name}"
  sqs_managed_sse_enabled = true
  # or SSE-KMS instead: kms_master_key_id = "<kms-key-arn>"
  # ... the rest of the queue's configuration as it is
}
`,
}

sse := object.get(input, ["configuration", "SqsManagedSseEnabled"], "false")

key := object.get(input, ["configuration", "KmsMasterKeyId"], "")

encrypted if sse == "true"

encrypted if sse == true

encrypted if key != ""

violations contains "the queue is not encrypted at rest (neither SSE-SQS nor SSE-KMS)" if not encrypted
