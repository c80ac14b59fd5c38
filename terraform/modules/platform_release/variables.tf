variable "region" {
  description = "AWS region of Secrets Manager (for the SecretStore)."
  type        = string
}

variable "namespace" {
  description = "Namespace of the platform and the team code locations."
  type        = string
  default     = "talent"
}

variable "external_secrets_chart_version" {
  description = "Exact version of the external-secrets Helm chart: at least 0.16.0, the first to serve external-secrets.io/v1, which talent-secret-sync uses (0.17.0 and later no longer serve v1beta1)."
  type        = string
  default     = "0.16.2"

  validation {
    condition     = can(regex("^(0\\.(1[6-9]|[2-9][0-9])|[1-9][0-9]*\\.[0-9]+)\\.[0-9]+$", var.external_secrets_chart_version))
    error_message = "external_secrets_chart_version must be an exact version >= 0.16.0 (talent-secret-sync uses external-secrets.io/v1)."
  }
}

variable "external_secrets_namespace" {
  description = "Namespace of the External Secrets Operator."
  type        = string
  default     = "external-secrets"
}

variable "external_secrets_service_account" {
  description = "Service account of the operator controller (must match the IRSA role's trust)."
  type        = string
  default     = "external-secrets"
}

variable "external_secrets_role_arn" {
  description = "IRSA role ARN of the operator controller (secrets module output sync_role_arn)."
  type        = string
}

variable "secret_refresh_interval" {
  description = "How often ExternalSecrets re-read Secrets Manager."
  type        = string
  default     = "1h"
}

variable "external_secrets" {
  description = "Kubernetes Secrets to materialise in the namespace: name; data (secretKey, remoteKey = Secrets Manager name or ARN, optional JSON property); optional template (key => ESO v2 template over the data keys), in which case the Secret holds exactly the template's keys."
  type = list(object({
    name = string
    data = list(object({
      secretKey = string
      remoteKey = string
      property  = optional(string)
    }))
    template = optional(map(string))
  }))
  default = []
}

variable "kube_prometheus_stack_chart_version" {
  description = "Exact version of the kube-prometheus-stack Helm chart."
  type        = string
  default     = "69.4.1"
}

variable "monitoring_namespace" {
  description = "Namespace of kube-prometheus-stack."
  type        = string
  default     = "monitoring"
}

variable "prometheus_retention" {
  description = "Prometheus TSDB retention."
  type        = string
  default     = "15d"
}

variable "database_ca_bundle_url" {
  description = "HTTPS URL of the database server's CA bundle (PEM; RDS: its regional trust store), written to the ConfigMap database_ca_config_map for sslmode=verify-full."
  type        = string
}

variable "database_ca_config_map" {
  description = "Name of the ConfigMap (key ca.pem) holding the database CA bundle, which the charts mount at /etc/talent/db-ca."
  type        = string
}
