variable "name_prefix" {
  description = "Path prefix of the secret names, e.g. talent/prod: secrets are <name_prefix>/<key>."
  type        = string
}

variable "secrets" {
  description = "Secret containers to create, keyed by name suffix; readers lists the teams whose IAM role may read it."
  type = map(object({
    description = string
    readers     = list(string)
  }))
  default = {
    "openai-api-key" = {
      description = "OpenAI API key (OPENAI_API_KEY). Value set out of band, never by Terraform."
      readers     = ["candidates", "jobs", "matching"]
    }
  }
}

variable "recovery_window_in_days" {
  description = "Days a deleted secret can still be restored."
  type        = number
  default     = 30
}

variable "oidc_provider_arn" {
  description = "ARN of the EKS cluster's IAM OIDC provider (for the External Secrets Operator role)."
  type        = string
}

variable "sync_namespace" {
  description = "Namespace of the External Secrets Operator controller."
  type        = string
  default     = "external-secrets"
}

variable "sync_service_account" {
  description = "Service account of the External Secrets Operator controller."
  type        = string
  default     = "external-secrets"
}

variable "extra_sync_secret_arns" {
  description = "Secrets created elsewhere that the operator also syncs (e.g. the RDS master user secret)."
  type        = list(string)
  default     = []
}

variable "extra_sync_kms_key_arns" {
  description = "KMS keys of extra_sync_secret_arns."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags applied to every resource."
  type        = map(string)
  default     = {}
}
