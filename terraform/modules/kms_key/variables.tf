variable "description" {
  description = "What the key encrypts (shown in the KMS console)."
  type        = string
}

variable "alias" {
  description = "Alias of the key, without the alias/ prefix (e.g. talent-prod-s3)."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9/_-]+$", var.alias)) && !startswith(var.alias, "alias/") && !startswith(var.alias, "aws/")
    error_message = "alias must be letters, digits, '/', '_' or '-', without the alias/ prefix, and must not start with aws/."
  }
}

variable "deletion_window_in_days" {
  description = "Days a scheduled key deletion can still be cancelled (7-30)."
  type        = number
  default     = 30
}

variable "tags" {
  description = "Tags applied to the key."
  type        = map(string)
  default     = {}
}
