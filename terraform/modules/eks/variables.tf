variable "cluster_name" {
  description = "Name of the EKS cluster."
  type        = string
}

variable "cluster_version" {
  description = "Kubernetes minor version of the control plane and node groups."
  type        = string
  default     = "1.33"
}

variable "vpc_id" {
  description = "ID of the VPC the cluster runs in."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnet IDs for the control plane ENIs and the managed node group."
  type        = list(string)
}

variable "endpoint_public_access" {
  description = "Expose the Kubernetes API endpoint publicly (restricted by endpoint_public_access_cidrs). Needed when Terraform runs from outside the VPC."
  type        = bool
  default     = false
}

variable "endpoint_public_access_cidrs" {
  description = "CIDR blocks allowed to reach the public API endpoint when endpoint_public_access is true."
  type        = list(string)
  default     = []
}

variable "access_entries" {
  description = "EKS access entries (see the terraform-aws-modules/eks input of the same name), e.g. an SSO admin role."
  type        = any
  default     = {}
}

variable "log_retention_in_days" {
  description = "Retention of the control plane CloudWatch log group, in days."
  type        = number
  default     = 90
}

variable "node_instance_types" {
  description = "Instance types of the default managed node group."
  type        = list(string)
  default     = ["m6i.large"]
}

variable "node_capacity_type" {
  description = "ON_DEMAND or SPOT for the default managed node group."
  type        = string
  default     = "ON_DEMAND"

  validation {
    condition     = contains(["ON_DEMAND", "SPOT"], var.node_capacity_type)
    error_message = "node_capacity_type must be ON_DEMAND or SPOT."
  }
}

variable "node_min_size" {
  description = "Minimum size of the default managed node group."
  type        = number
  default     = 2
}

variable "node_max_size" {
  description = "Maximum size of the default managed node group."
  type        = number
  default     = 6
}

variable "node_desired_size" {
  description = "Initial desired size of the default managed node group (later changes are left to the autoscaler)."
  type        = number
  default     = 2
}

variable "tags" {
  description = "Tags applied to every resource."
  type        = map(string)
  default     = {}
}
