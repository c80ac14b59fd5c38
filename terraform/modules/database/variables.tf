variable "identifier" {
  description = "Identifier of the RDS instance and prefix of its companion resources."
  type        = string
}

variable "engine_version" {
  description = "PostgreSQL engine version (major.minor). Must be 16 or newer (pgvector and the platform's SQL need it)."
  type        = string
  default     = "16.8"

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+$", var.engine_version)) && tonumber(split(".", var.engine_version)[0]) >= 16
    error_message = "engine_version must look like MAJOR.MINOR with MAJOR >= 16."
  }
}

variable "instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.medium"
}

variable "allocated_storage" {
  description = "Initial storage in GiB."
  type        = number
  default     = 50
}

variable "max_allocated_storage" {
  description = "Upper bound for storage autoscaling in GiB."
  type        = number
  default     = 200
}

variable "db_name" {
  description = "Name of the database created at launch (Dagster storage and the vector tables)."
  type        = string
  default     = "dagster"
}

variable "master_username" {
  description = "Master user name; its password is generated and kept in Secrets Manager by RDS."
  type        = string
  default     = "dagster"
}

variable "multi_az" {
  description = "Run a synchronous standby in a second AZ (on in prod)."
  type        = bool
  default     = true
}

variable "backup_retention_period" {
  description = "Days of automated backups to keep (at least 7)."
  type        = number
  default     = 14

  validation {
    condition     = var.backup_retention_period >= 7 && var.backup_retention_period <= 35
    error_message = "backup_retention_period must be between 7 and 35 days."
  }
}

variable "log_retention_in_days" {
  description = "Retention of the exported PostgreSQL logs in CloudWatch, in days."
  type        = number
  default     = 30
}

variable "vpc_id" {
  description = "ID of the VPC that holds the database."
  type        = string
}

variable "db_subnet_group_name" {
  description = "Existing DB subnet group (from the network module)."
  type        = string
}

variable "allowed_security_group_ids" {
  description = "Security groups allowed to connect on 5432, keyed by a static label (e.g. { eks_nodes = sg-... })."
  type        = map(string)
  default     = {}
}

variable "tags" {
  description = "Tags applied to every resource."
  type        = map(string)
  default     = {}
}
