# What an environment sets (terraform.tfvars) or an operator overrides (-var). null means the
# stack's default (stack/variables.tf, which also validates every value).

variable "environment" {
  description = "Environment name (dev, prod); part of every resource name."
  type        = string
}

variable "region" {
  description = "AWS region of the providers and the stack."
  type        = string
}

variable "tags" {
  description = "Extra tags applied to every resource."
  type        = map(string)
  default     = null
}

variable "vpc_cidr" {
  description = "CIDR block (/16) of the VPC."
  type        = string
  default     = null
}

variable "azs" {
  description = "Availability zone names (2 or 3) in var.region."
  type        = list(string)
  default     = null
}

variable "single_nat_gateway" {
  description = "One shared NAT gateway instead of one per AZ."
  type        = bool
  default     = null
}

variable "kubernetes_version" {
  description = "EKS Kubernetes minor version."
  type        = string
  default     = null
}

variable "eks_endpoint_public_access" {
  description = "Expose the EKS API publicly (restricted to eks_endpoint_public_access_cidrs)."
  type        = bool
  default     = null
}

variable "eks_endpoint_public_access_cidrs" {
  description = "CIDRs allowed to reach a public EKS API endpoint."
  type        = list(string)
  default     = null
}

variable "eks_access_entries" {
  description = "EKS access entries for humans and CI (e.g. an SSO admin role)."
  type        = any
  default     = null
}

variable "node_instance_types" {
  description = "Instance types of the managed node group."
  type        = list(string)
  default     = null
}

variable "node_capacity_type" {
  description = "ON_DEMAND or SPOT."
  type        = string
  default     = null
}

variable "node_min_size" {
  description = "Minimum node count."
  type        = number
  default     = null
}

variable "node_max_size" {
  description = "Maximum node count."
  type        = number
  default     = null
}

variable "node_desired_size" {
  description = "Initial node count."
  type        = number
  default     = null
}

variable "postgres_engine_version" {
  description = "RDS PostgreSQL version (16 or newer)."
  type        = string
  default     = null
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = null
}

variable "db_multi_az" {
  description = "Multi-AZ RDS (true in prod)."
  type        = bool
  default     = null
}

variable "db_backup_retention_period" {
  description = "Days of RDS automated backups."
  type        = number
  default     = null
}

variable "compute_logs_retention_days" {
  description = "Days Dagster compute logs are kept."
  type        = number
  default     = null
}
