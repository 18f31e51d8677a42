variable "name" {
  description = "Prefix of every resource's name."
  type        = string
  default     = "custos"
}

variable "mode" {
  description = "`detect` (reads only: adoption phase 1) or `remediate` (reads, and the writes of every shipped playbook; what custos may do alone is still decided by its autonomy levels)."
  type        = string
  default     = "detect"

  validation {
    condition     = contains(["detect", "remediate"], var.mode)
    error_message = "mode must be `detect` or `remediate`."
  }
}

variable "image" {
  description = "The custos OCI image (registry/repository:tag or @digest) the service runs."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the service (and of the ledger database, when `ledger` is `postgres`)."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the service and the database (at least two, in different zones, for the database)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "give at least two subnets in different availability zones."
  }
}

variable "config_toml" {
  description = "The custos.toml the service runs with (README, \"Deploy\", has one per phase); `[telemetry] queue_url` and `[database] url` are set from this module's resources by environment variables."
  type        = string
}

variable "ledger" {
  description = "`postgres` (an RDS PostgreSQL instance: many workers) or `sqlite` (one task only, the ledger on an encrypted EFS volume; SQLite's WAL needs every writer on one host, so never run a second task, `custos doctor` included, against it)."
  type        = string
  default     = "postgres"

  validation {
    condition     = contains(["postgres", "sqlite"], var.ledger)
    error_message = "ledger must be `postgres` or `sqlite`."
  }
}

variable "workers" {
  description = "How many `custos serve --worker` tasks run (1 with the `sqlite` ledger)."
  type        = number
  default     = 2
}

variable "member_role_arns" {
  description = "ARNs of the member-account roles (module `member-role`) custos assumes; empty for a single account."
  type        = list(string)
  default     = []
}

variable "witness_retention_days" {
  description = "Object Lock retention (compliance mode) of each signed checkpoint in the witness bucket, in days."
  type        = number
  default     = 2557
}

variable "log_retention_days" {
  description = "Retention of the service's CloudWatch log group, in days."
  type        = number
  default     = 365
}

variable "db_instance_class" {
  description = "RDS instance class of the ledger (when `ledger` is `postgres`)."
  type        = string
  default     = "db.t4g.small"
}

variable "cpu" {
  description = "Fargate task CPU units."
  type        = number
  default     = 512
}

variable "memory" {
  description = "Fargate task memory, in MiB."
  type        = number
  default     = 1024
}

variable "tags" {
  description = "Tags for every resource of this module."
  type        = map(string)
  default     = {}
}
