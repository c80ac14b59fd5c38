output "bucket_names" {
  description = "Bucket names keyed by purpose (landing, io-manager, compute-logs)."
  value       = { for k, m in module.this : k => try(m.s3_bucket_id, null) }
}

output "bucket_arns" {
  description = "Bucket ARNs keyed by purpose (landing, io-manager, compute-logs)."
  value       = { for k, m in module.this : k => try(m.s3_bucket_arn, null) }
}

output "kms_key_arn" {
  description = "ARN of the KMS key encrypting the buckets (roles that read or write objects need kms:Decrypt/GenerateDataKey on it)."
  value       = module.kms_key.arn
}
