package custos.controls.sqs_queue_encryption_test

import data.custos.controls.sqs_queue_encryption as ctl

queue(cfg) := {"resourceType": "AWS::SQS::Queue", "configuration": cfg}

test_sse_sqs_passes if {
	count(ctl.violations) == 0 with input as queue({"SqsManagedSseEnabled": "true"})
}

test_sse_kms_passes if {
	count(ctl.violations) == 0 with input as queue({"SqsManagedSseEnabled": "false", "KmsMasterKeyId": "alias/aws/sqs"})
}

test_unencrypted_fails if {
	ctl.violations == {"the queue is not encrypted at rest (neither SSE-SQS nor SSE-KMS)"} with input as queue({"SqsManagedSseEnabled": "false"})
}

test_attributes_missing_fails if {
	count(ctl.violations) == 1 with input as queue({})
}
