output "address" {
  description = "Host name of the RDS instance."
  value       = try(module.this.db_instance_address, null)
}

output "port" {
  description = "Port of the RDS instance."
  value       = try(module.this.db_instance_port, null)
}

output "endpoint" {
  description = "host:port of the RDS instance."
  value       = try(module.this.db_instance_endpoint, null)
}

output "db_name" {
  description = "Name of the database."
  value       = try(module.this.db_instance_name, null)
}

output "master_username" {
  description = "Master user name."
  value       = var.master_username
}

output "master_user_secret_arn" {
  description = "ARN of the RDS-managed Secrets Manager secret holding the master credentials (JSON with username and password)."
  value       = try(module.this.db_instance_master_user_secret_arn, null)
}

output "kms_key_arn" {
  description = "ARN of the KMS key encrypting storage and the master user secret."
  value       = module.kms_key.arn
}

output "security_group_id" {
  description = "Security group attached to the instance."
  value       = aws_security_group.this.id
}
