variable "region" {
  description = "Region custos runs in and scans."
  type        = string
}

variable "mode" {
  description = "`detect` in phase 1; `remediate` from phase 2 on."
  type        = string
  default     = "detect"
}

variable "image" {
  description = "The custos image (README, \"Image\")."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the service."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the service and the ledger database (two or more, in different zones)."
  type        = list(string)
}
