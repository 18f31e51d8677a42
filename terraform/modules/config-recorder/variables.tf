variable "name" {
  description = "Name of the recorder, its delivery channel and the prefix of its bucket and role."
  type        = string
  default     = "default"
}

variable "all_supported" {
  description = "Record every resource type AWS Config supports (custos's `--source config` needs the types of its controls)."
  type        = bool
  default     = true
}

variable "include_global_resource_types" {
  description = "Record global types (IAM) too: true in one region of the account, false in the others."
  type        = bool
  default     = true
}

variable "resource_types" {
  description = "The types to record when `all_supported` is false (at least the types of the controls in use)."
  type        = list(string)
  default     = []
}

variable "snapshot_frequency" {
  description = "How often Config delivers a configuration snapshot: One_Hour, Three_Hours, Six_Hours, Twelve_Hours or TwentyFour_Hours."
  type        = string
  default     = "TwentyFour_Hours"
}

variable "create_service_linked_role" {
  description = "Create AWS Config's service-linked role (false when the account has it: creating it twice fails)."
  type        = bool
  default     = true
}

variable "kms_key_arn" {
  description = "Key that encrypts the delivery bucket (its policy must let config.amazonaws.com use it)."
  type        = string
}

variable "retention_days" {
  description = "Days Config's snapshots and history files are kept in the bucket."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags for every resource of this module."
  type        = map(string)
  default     = {}
}
