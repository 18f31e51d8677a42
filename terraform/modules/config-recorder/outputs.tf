output "recorder_name" {
  description = "Name of the configuration recorder."
  value       = aws_config_configuration_recorder.this.name
}

output "delivery_bucket" {
  description = "Name of the bucket Config delivers snapshots and history to."
  value       = aws_s3_bucket.delivery.bucket
}
