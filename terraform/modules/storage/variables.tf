variable "name_prefix" {
  description = "Prefix of the bucket names (e.g. talent-prod); names are <prefix>-<purpose>-<account>-<region>."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,18}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-20 lowercase letters, digits or hyphens, so bucket names stay under 63 characters."
  }
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which non-current object versions are deleted."
  type        = number
  default     = 30
}

variable "compute_logs_retention_days" {
  description = "Days after which Dagster compute logs expire."
  type        = number
  default     = 30
}

variable "tags" {
  description = "Tags applied to every resource."
  type        = map(string)
  default     = {}
}
