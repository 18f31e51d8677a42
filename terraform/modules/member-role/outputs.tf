output "role_arn" {
  description = "ARN of the member role: put it in custos.toml's `[[aws.targets]]` `role_arn` for this account."
  value       = aws_iam_role.member.arn
}

output "mode" {
  description = "The mode whose policy the role holds."
  value       = var.mode
}
