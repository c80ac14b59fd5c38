output "cluster_name" {
  description = "Name of the EKS cluster."
  value       = try(module.this.cluster_name, null)
}

output "cluster_endpoint" {
  description = "Endpoint of the Kubernetes API server."
  value       = try(module.this.cluster_endpoint, null)
}

output "cluster_certificate_authority_data" {
  description = "Base64-encoded CA certificate of the cluster."
  value       = try(module.this.cluster_certificate_authority_data, null)
}

output "oidc_provider_arn" {
  description = "ARN of the cluster's IAM OIDC provider (trusted by the IRSA roles)."
  value       = try(module.this.oidc_provider_arn, null)
}

output "cluster_oidc_issuer_url" {
  description = "OIDC issuer URL of the cluster."
  value       = try(module.this.cluster_oidc_issuer_url, null)
}

output "node_security_group_id" {
  description = "Security group shared by the managed nodes (the database allows PostgreSQL from it)."
  value       = try(module.this.node_security_group_id, null)
}
