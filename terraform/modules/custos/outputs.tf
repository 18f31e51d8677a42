output "role_arn" {
  description = "ARN of the custos task role: give it to each member account's `member-role` module as `custos_role_arn`."
  value       = aws_iam_role.custos.arn
}

output "events_queue_url" {
  description = "URL of the queue of AWS Config change events (set in the task as CUSTOS_QUEUE_URL)."
  value       = aws_sqs_queue.events.url
}

output "events_dead_letter_queue_url" {
  description = "URL of the redrive dead-letter queue: messages SQS gave up on after 5 receives."
  value       = aws_sqs_queue.dead_letters.url
}

output "witness_bucket" {
  description = "Name of the checkpoint witness bucket (Object Lock, compliance mode): `[evidence] witness_s3 = \"s3://NAME/checkpoints/\"`."
  value       = aws_s3_bucket.witness.bucket
}

output "secret_arns" {
  description = "ARNs of the secrets to fill in (`aws secretsmanager put-secret-value`), by name: signing_key, llm_api_key, webhook_url."
  value       = { for k, s in aws_secretsmanager_secret.custos : k => s.arn }
}

output "kms_key_arn" {
  description = "ARN of the key that encrypts the queues, log group, secrets, witness and ledger."
  value       = aws_kms_key.custos.arn
}

output "log_group" {
  description = "The service's CloudWatch log group."
  value       = aws_cloudwatch_log_group.custos.name
}
