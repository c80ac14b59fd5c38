# The stack's outputs, unchanged (terraform/README.md, "Outputs"). `team_values` and `platform_values`
# are the contract with helm/code-location and helm/platform, written to
# helm/values/<team>.infra-<env>.yaml and helm/values/platform.infra-<env>.yaml.

output "team_values" {
  description = "Per team: the infrastructure overlay of helm/values/<team>.yaml (IRSA role annotation, ECR repository, landing zone, instance and app database Secrets, network peers)."
  value       = module.stack.team_values
}

output "platform_values" {
  description = "The infrastructure overlay of helm/values/platform.yaml for `helm upgrade --install platform` (no image tag: the deploy sets it)."
  value       = module.stack.platform_values
}

output "cluster_name" {
  description = "EKS cluster name (aws eks update-kubeconfig --name ...)."
  value       = module.stack.cluster_name
}

output "team_role_arns" {
  description = "IRSA role ARN per team (service account annotation eks.amazonaws.com/role-arn)."
  value       = module.stack.team_role_arns
}

output "platform_role_arn" {
  description = "IRSA role ARN of the platform service account."
  value       = module.stack.platform_role_arn
}

output "ecr_repository_urls" {
  description = "ECR repository URL per code location and for the platform image."
  value       = module.stack.ecr_repository_urls
}

output "bucket_names" {
  description = "S3 bucket names keyed by purpose (landing, io-manager, compute-logs)."
  value       = module.stack.bucket_names
}

output "rds_endpoint" {
  description = "host:port of the PostgreSQL instance."
  value       = module.stack.rds_endpoint
}

output "rds_address" {
  description = "Host name of the PostgreSQL instance."
  value       = module.stack.rds_address
}

output "rds_master_user_secret_arn" {
  description = "ARN of the RDS-managed master credentials secret (synced into the cluster as the Secrets dagster-postgresql and talent-database)."
  value       = module.stack.rds_master_user_secret_arn
}

output "secret_names" {
  description = "Secrets Manager names of the application secrets (set their values out of band)."
  value       = module.stack.secret_names
}

output "kubernetes_secret_names" {
  description = "Kubernetes Secrets the External Secrets Operator maintains in the namespace."
  value       = module.stack.kubernetes_secret_names
}

output "kubernetes_secret_keys" {
  description = "Keys of each Kubernetes Secret the External Secrets Operator maintains (what the charts' secretKeyRefs read)."
  value       = module.stack.kubernetes_secret_keys
}

output "external_secrets_role_arn" {
  description = "IRSA role ARN of the External Secrets Operator controller."
  value       = module.stack.external_secrets_role_arn
}
