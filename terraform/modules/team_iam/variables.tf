variable "team" {
  description = "Team (code location) this role belongs to, e.g. candidates."
  type        = string
}

variable "role_name" {
  description = "Name of the IAM role and its policy."
  type        = string
}

variable "oidc_provider_arn" {
  description = "ARN of the EKS cluster's IAM OIDC provider."
  type        = string
}

variable "namespace" {
  description = "Kubernetes namespace of the service account."
  type        = string
  default     = "talent"
}

variable "service_account" {
  description = "Kubernetes service account allowed to assume the role."
  type        = string
}

variable "region" {
  description = "AWS region (scopes kms:ViaService conditions)."
  type        = string
}

variable "landing_bucket_arn" {
  description = "ARN of the landing-zone bucket."
  type        = string
}

variable "landing_prefixes" {
  description = "Landing-zone prefixes (ending in /) the team reads and writes; empty for no access."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for p in var.landing_prefixes : endswith(p, "/") && !startswith(p, "/")])
    error_message = "Prefixes must end with '/' and must not start with '/'."
  }
}

variable "io_manager_bucket_arn" {
  description = "ARN of the IO manager bucket."
  type        = string
}

variable "io_manager_prefixes" {
  description = "IO manager prefixes (ending in /) the team reads and writes, normally [\"<team>/\"]."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for p in var.io_manager_prefixes : endswith(p, "/") && !startswith(p, "/")])
    error_message = "Prefixes must end with '/' and must not start with '/'."
  }
}

variable "io_manager_read_prefixes" {
  description = "Other teams' IO manager prefixes this team may only read (cross-location asset loads); empty by default."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for p in var.io_manager_read_prefixes : endswith(p, "/") && !startswith(p, "/")])
    error_message = "Prefixes must end with '/' and must not start with '/'."
  }
}

variable "compute_logs_bucket_arn" {
  description = "ARN of the compute-logs bucket."
  type        = string
}

variable "compute_logs_prefix" {
  description = "Compute-logs prefix (ending in /) this role writes or reads under: <compute_logs_prefix><team>/ for a team (talent_shared/compute_logs.py), the whole prefix for the platform's reader."
  type        = string
  default     = "dagster/"
}

variable "compute_logs_access" {
  description = "write (run/step pods upload logs), read (webserver shows them) or none."
  type        = string
  default     = "write"

  validation {
    condition     = contains(["write", "read", "none"], var.compute_logs_access)
    error_message = "compute_logs_access must be write, read or none."
  }
}

variable "storage_kms_key_arn" {
  description = "ARN of the KMS key encrypting the buckets."
  type        = string
}

variable "secret_arns" {
  description = "Secrets Manager secret ARNs this team may read (its own secrets only)."
  type        = list(string)
  default     = []
}

variable "secrets_kms_key_arn" {
  description = "ARN of the KMS key encrypting those secrets."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags applied to every resource."
  type        = map(string)
  default     = {}
}
