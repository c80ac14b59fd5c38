output "secret_arns" {
  description = "Secret ARNs keyed by name suffix."
  value       = { for k, s in aws_secretsmanager_secret.this : k => s.arn }
}

output "secret_names" {
  description = "Full secret names keyed by name suffix (remote keys of the ExternalSecrets)."
  value       = { for k, s in aws_secretsmanager_secret.this : k => s.name }
}

output "secret_arns_by_reader" {
  description = "For each team listed as a reader, the ARNs of the secrets it may read."
  value = {
    for team in distinct(flatten([for s in var.secrets : s.readers])) :
    team => [for k, s in var.secrets : aws_secretsmanager_secret.this[k].arn if contains(s.readers, team)]
  }
}

output "secret_keys_by_reader" {
  description = "For each team listed as a reader, the keys (name suffixes) of the secrets it may read."
  value = {
    for team in distinct(flatten([for s in var.secrets : s.readers])) :
    team => [for k, s in var.secrets : k if contains(s.readers, team)]
  }
}

output "kms_key_arn" {
  description = "ARN of the KMS key encrypting the secrets."
  value       = module.kms_key.arn
}

output "sync_role_arn" {
  description = "ARN of the External Secrets Operator's IRSA role."
  value       = try(module.sync_role.iam_role_arn, null)
}
