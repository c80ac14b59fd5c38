# Every input has the stack's default here; the roots (envs/*) pass null for what their
# terraform.tfvars leaves out, and `nullable = false` turns that null back into the default.

variable "environment" {
  description = "Environment name (dev, prod); part of every resource name."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,7}$", var.environment))
    error_message = "environment must be 2-8 lowercase letters or digits."
  }
}

variable "region" {
  description = "AWS region."
  type        = string
  nullable    = false
  default     = "eu-west-1"
}

variable "tags" {
  description = "Extra tags applied to every resource."
  type        = map(string)
  nullable    = false
  default     = {}
}

variable "vpc_cidr" {
  description = "CIDR block (/16) of the VPC."
  type        = string
  nullable    = false
  default     = "10.0.0.0/16"
}

variable "azs" {
  description = "Availability zone names (2 or 3) in var.region."
  type        = list(string)
  nullable    = false
  default     = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
}

variable "single_nat_gateway" {
  description = "One shared NAT gateway instead of one per AZ."
  type        = bool
  nullable    = false
  default     = false
}

variable "kubernetes_version" {
  description = "EKS Kubernetes minor version."
  type        = string
  nullable    = false
  default     = "1.33"
}

variable "eks_endpoint_public_access" {
  description = "Expose the EKS API publicly (restricted to eks_endpoint_public_access_cidrs)."
  type        = bool
  nullable    = false
  default     = false
}

variable "eks_endpoint_public_access_cidrs" {
  description = "CIDRs allowed to reach a public EKS API endpoint."
  type        = list(string)
  nullable    = false
  default     = []
}

variable "eks_access_entries" {
  description = "EKS access entries for humans and CI (e.g. an SSO admin role)."
  type        = any
  nullable    = false
  default     = {}
}

variable "node_instance_types" {
  description = "Instance types of the managed node group."
  type        = list(string)
  nullable    = false
  default     = ["m6i.large"]
}

variable "node_capacity_type" {
  description = "ON_DEMAND or SPOT."
  type        = string
  nullable    = false
  default     = "ON_DEMAND"
}

variable "node_min_size" {
  description = "Minimum node count."
  type        = number
  nullable    = false
  default     = 2
}

variable "node_max_size" {
  description = "Maximum node count."
  type        = number
  nullable    = false
  default     = 6
}

variable "node_desired_size" {
  description = "Initial node count."
  type        = number
  nullable    = false
  default     = 2
}

variable "postgres_engine_version" {
  description = "RDS PostgreSQL version (16 or newer)."
  type        = string
  nullable    = false
  default     = "16.8"
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
  nullable    = false
  default     = "db.t4g.medium"
}

variable "db_multi_az" {
  description = "Multi-AZ RDS (true in prod)."
  type        = bool
  nullable    = false
  default     = true
}

variable "db_backup_retention_period" {
  description = "Days of RDS automated backups."
  type        = number
  nullable    = false
  default     = 14
}

variable "compute_logs_retention_days" {
  description = "Days Dagster compute logs are kept."
  type        = number
  nullable    = false
  default     = 30
}

variable "compute_logs_prefix" {
  description = "Prefix of Dagster's S3ComputeLogManager in the compute-logs bucket."
  type        = string
  nullable    = false
  default     = "dagster/"
}

variable "kubernetes_namespace" {
  description = "Namespace of the platform and every code location."
  type        = string
  nullable    = false
  default     = "talent"
}

variable "team_service_accounts" {
  description = "ServiceAccount of each team's code-location release (one IRSA role and one ECR repository per key). The chart names it <release>-code-server and takes no override, so keep the release name equal to the key."
  type        = map(string)
  nullable    = false
  default = {
    candidates = "candidates-code-server"
    jobs       = "jobs-code-server"
    matching   = "matching-code-server"
  }
}

variable "landing_root_prefix" {
  description = "Root of the landing zone in the landing bucket (TALENT_LANDING = s3://<bucket>/<root>); team_landing_prefixes are relative to it."
  type        = string
  nullable    = false
  default     = "landing"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*)*$", var.landing_root_prefix))
    error_message = "landing_root_prefix must be a relative S3 prefix without leading or trailing '/'."
  }
}

variable "team_landing_prefixes" {
  description = "Landing-zone prefixes (relative to landing_root_prefix) each team reads and writes; teams not listed get none."
  type        = map(list(string))
  nullable    = false
  default = {
    candidates = ["candidates/"]
    jobs       = ["jobs/"]
    matching   = []
  }
}

variable "team_io_manager_read_prefixes" {
  description = "Other teams' IO manager prefixes a team may read (cross-location loads); none by default."
  type        = map(list(string))
  nullable    = false
  default     = {}
}

variable "platform_service_account" {
  description = "ServiceAccount of the platform's webserver and daemon: the chart names it <release>-dagster (release platform)."
  type        = string
  nullable    = false
  default     = "platform-dagster"
}
