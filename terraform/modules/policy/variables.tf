variable "events_queue_arns" {
  description = "ARNs of the SQS queues of AWS Config change events custos consumes (empty in a member account)."
  type        = list(string)
  default     = []
}

variable "witness_bucket_arns" {
  description = "ARNs of the checkpoint witness bucket and its objects (`arn:aws:s3:::NAME` and `arn:aws:s3:::NAME/*`); empty for none."
  type        = list(string)
  default     = []
}

variable "member_role_arns" {
  description = "ARNs of the member-account roles custos assumes (empty in a single account or a member account)."
  type        = list(string)
  default     = []
}

variable "custos_key_arns" {
  description = "ARNs of the KMS key of custos's own queue and witness bucket (empty in a member account)."
  type        = list(string)
  default     = []
}
