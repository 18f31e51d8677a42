output "custos_role_arn" {
  description = "The custos task role, trusted by each member role."
  value       = module.custos.role_arn
}

output "member_role_arn" {
  description = "The role custos assumes in the member account."
  value       = module.member.role_arn
}

output "events_queue_url" {
  description = "The queue of AWS Config change events (an organization's events reach it through an EventBridge bus rule per member account)."
  value       = module.custos.events_queue_url
}
