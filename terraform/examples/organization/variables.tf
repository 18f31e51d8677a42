variable "region" {
  description = "Region custos runs in."
  type        = string
}

variable "mode" {
  description = "`detect` in phase 1; `remediate` from phase 2 on (both the custos role and the member role)."
  type        = string
  default     = "detect"
}

variable "hub_mode" {
  description = "Mode of the custos role in the security account: `detect` unless that account is a target too."
  type        = string
  default     = "detect"
}

variable "image" {
  description = "The custos image (README, \"Image\")."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the service in the security account."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the service and the ledger database (two or more)."
  type        = list(string)
}

variable "member_account_id" {
  description = "The member account custos scans (one here; repeat the member module per account)."
  type        = string
}

variable "member_admin_role_arn" {
  description = "A role Terraform assumes in the member account to create the member role."
  type        = string
}

variable "external_id" {
  description = "External id of the member role (16 characters or more)."
  type        = string
}

variable "member_needs_recorder" {
  description = "Create an AWS Config recorder in the member account (false when it has one)."
  type        = bool
  default     = false
}

variable "member_config_kms_key_arn" {
  description = "Key for the member recorder's delivery bucket (when `member_needs_recorder`)."
  type        = string
  default     = ""
}
