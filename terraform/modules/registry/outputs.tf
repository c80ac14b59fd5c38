output "repository_urls" {
  description = "Repository URLs keyed by repository (image.repository in the values files)."
  value       = { for k, r in aws_ecr_repository.this : k => r.repository_url }
}

output "repository_arns" {
  description = "Repository ARNs keyed by repository."
  value       = { for k, r in aws_ecr_repository.this : k => r.arn }
}

output "kms_key_arn" {
  description = "ARN of the KMS key encrypting the repositories."
  value       = module.kms_key.arn
}
