output "events_queue_url" {
  description = "The queue of AWS Config change events."
  value       = module.custos.events_queue_url
}

output "secret_arns" {
  description = "The secrets to fill in before the first start."
  value       = module.custos.secret_arns
}

output "witness_bucket" {
  description = "The checkpoint witness bucket."
  value       = module.custos.witness_bucket
}
