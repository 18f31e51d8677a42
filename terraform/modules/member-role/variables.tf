variable "name" {
  description = "Name of the role custos assumes in this account."
  type        = string
  default     = "custos-member"
}

variable "custos_role_arn" {
  description = "ARN of the custos role (in the account custos runs in): the only principal this role trusts."
  type        = string
}

variable "external_id" {
  description = "External id the custos role must present when it assumes this role (`sts:ExternalId`); set the same value in custos.toml's `[[aws.targets]]`."
  type        = string

  validation {
    condition     = length(var.external_id) >= 16
    error_message = "external_id must be at least 16 characters."
  }
}

variable "mode" {
  description = "`detect` (reads only) or `remediate` (reads, and the writes of every shipped playbook)."
  type        = string
  default     = "detect"

  validation {
    condition     = contains(["detect", "remediate"], var.mode)
    error_message = "mode must be `detect` or `remediate`."
  }
}

variable "max_session_duration" {
  description = "Longest session the role grants, in seconds."
  type        = number
  default     = 3600
}

variable "tags" {
  description = "Tags for every resource of this module."
  type        = map(string)
  default     = {}
}
