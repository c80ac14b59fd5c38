variable "name" {
  description = "Name of the VPC and prefix of its resources."
  type        = string
}

variable "cidr" {
  description = "IPv4 CIDR block of the VPC; a /16 is expected (the subnet layout carves /20 and /24 blocks from it)."
  type        = string
  default     = "10.0.0.0/16"

  validation {
    condition     = can(cidrhost(var.cidr, 0)) && endswith(var.cidr, "/16")
    error_message = "cidr must be a valid /16 IPv4 block."
  }
}

variable "azs" {
  description = "Availability zone names to spread subnets over (2 or 3), listed explicitly so the set never grows when AWS adds a zone."
  type        = list(string)

  validation {
    condition     = length(var.azs) >= 2 && length(var.azs) <= 3
    error_message = "azs must name 2 or 3 zones (RDS and EKS need two; the CIDR layout holds three)."
  }
}

variable "single_nat_gateway" {
  description = "Use one shared NAT gateway (cheaper, dev) instead of one per AZ (resilient, prod)."
  type        = bool
  default     = false
}

variable "flow_log_retention_in_days" {
  description = "Retention of the VPC flow log CloudWatch log group, in days."
  type        = number
  default     = 90
}

variable "tags" {
  description = "Tags applied to every resource."
  type        = map(string)
  default     = {}
}
