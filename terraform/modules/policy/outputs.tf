output "detect_json" {
  description = "The IAM policy document (JSON string) of detect mode: reads only."
  value       = data.aws_iam_policy_document.custos_detect.json
}

output "remediate_json" {
  description = "The IAM policy document (JSON string) of remediate mode: reads, and the writes and rollbacks of every shipped playbook."
  value       = data.aws_iam_policy_document.custos_remediate.json
}
