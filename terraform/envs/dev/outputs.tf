# `team_values` is the contract with helm/values/<team>.yaml: see terraform/README.md.
output "team_values" {
  description = "Per team: the infrastructure half of helm/values/<team>.yaml (service account role, image repository, buckets, database, secrets)."
  value = {
    for team, sa in var.team_service_accounts : team => {
      serviceAccount = {
        name = sa
        annotations = {
          "eks.amazonaws.com/role-arn" = try(module.team_iam[team].role_arn, null)
        }
      }
      image = {
        repository = try(module.registry.repository_urls[team], null)
      }
      landing = {
        bucket   = try(module.storage.bucket_names["landing"], null)
        prefixes = lookup(var.team_landing_prefixes, team, [])
      }
      ioManager = {
        bucket = try(module.storage.bucket_names["io-manager"], null)
        prefix = "${team}/"
      }
      computeLogs = {
        bucket = try(module.storage.bucket_names["compute-logs"], null)
        prefix = var.compute_logs_prefix
      }
      postgresql = {
        host       = try(module.database.address, null)
        port       = try(module.database.port, null)
        database   = try(module.database.db_name, null)
        username   = try(module.database.master_username, null)
        secretName = local.postgres_secret_name
      }
      envSecrets = concat(
        [local.postgres_secret_name],
        [for k in try(module.secrets.secret_keys_by_reader[team], []) : local.app_secret_k8s_names[k]],
      )
    }
  }
}

output "cluster_name" {
  description = "EKS cluster name (aws eks update-kubeconfig --name ...)."
  value       = module.eks.cluster_name
}

output "team_role_arns" {
  description = "IRSA role ARN per team (service account annotation eks.amazonaws.com/role-arn)."
  value       = { for team, m in module.team_iam : team => m.role_arn }
}

output "platform_role_arn" {
  description = "IRSA role ARN of the platform service account."
  value       = module.platform_iam.role_arn
}

output "ecr_repository_urls" {
  description = "ECR repository URL per code location and for the platform image."
  value       = module.registry.repository_urls
}

output "bucket_names" {
  description = "S3 bucket names keyed by purpose (landing, io-manager, compute-logs)."
  value       = module.storage.bucket_names
}

output "rds_endpoint" {
  description = "host:port of the PostgreSQL instance."
  value       = module.database.endpoint
}

output "rds_address" {
  description = "Host name of the PostgreSQL instance."
  value       = module.database.address
}

output "rds_master_user_secret_arn" {
  description = "ARN of the RDS-managed master credentials secret (synced into the cluster as dagster-postgresql-secret)."
  value       = module.database.master_user_secret_arn
}

output "secret_names" {
  description = "Secrets Manager names of the application secrets (set their values out of band)."
  value       = module.secrets.secret_names
}

output "kubernetes_secret_names" {
  description = "Kubernetes Secrets the External Secrets Operator maintains in the namespace."
  value       = module.platform_release.kubernetes_secret_names
}

output "external_secrets_role_arn" {
  description = "IRSA role ARN of the External Secrets Operator controller."
  value       = module.secrets.sync_role_arn
}
