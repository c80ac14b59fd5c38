output "role_arn" {
  description = "ARN of the IRSA role (annotation eks.amazonaws.com/role-arn of the service account)."
  value       = try(module.this.iam_role_arn, null)
}

output "role_name" {
  description = "Name of the IRSA role."
  value       = try(module.this.iam_role_name, null)
}

output "policy_arn" {
  description = "ARN of the least-privilege policy attached to the role."
  value       = aws_iam_policy.this.arn
}

output "policy_json" {
  description = "The policy document (for review and tests)."
  value       = data.aws_iam_policy_document.this.json
}

output "service_account" {
  description = "namespace/name of the bound Kubernetes service account."
  value       = "${var.namespace}/${var.service_account}"
}
