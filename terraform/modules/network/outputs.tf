output "vpc_id" {
  description = "ID of the VPC."
  value       = try(module.this.vpc_id, null)
}

output "vpc_cidr_block" {
  description = "CIDR block of the VPC."
  value       = try(module.this.vpc_cidr_block, null)
}

output "azs" {
  description = "Availability zones the subnets are spread over."
  value       = var.azs
}

output "private_subnet_ids" {
  description = "IDs of the private subnets (EKS nodes and control plane ENIs)."
  value       = try(module.this.private_subnets, [])
}

output "public_subnet_ids" {
  description = "IDs of the public subnets (NAT gateways, internet-facing load balancers)."
  value       = try(module.this.public_subnets, [])
}

output "database_subnet_group_name" {
  description = "Name of the DB subnet group over the database subnets."
  value       = try(module.this.database_subnet_group_name, null)
}
