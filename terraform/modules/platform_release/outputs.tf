output "namespace" {
  description = "Namespace of the platform and the team releases."
  value       = kubernetes_namespace_v1.this.metadata[0].name
}

output "kubernetes_secret_names" {
  description = "Names of the Kubernetes Secrets synced by the External Secrets Operator."
  value       = [for s in var.external_secrets : s.name]
}

output "monitoring_release_status" {
  description = "Status of the kube-prometheus-stack Helm release."
  value       = try(helm_release.monitoring.status, null)
}

output "kubernetes_secret_keys" {
  description = "Keys of each synced Kubernetes Secret: the template's keys when it has one, else the data secretKeys."
  value = {
    for s in var.external_secrets : s.name => (
      s.template != null ? sort(keys(s.template)) : [for d in s.data : d.secretKey]
    )
  }
}
