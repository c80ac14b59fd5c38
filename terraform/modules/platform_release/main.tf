locals {
  # kube-prometheus-stack's values: a literal object, so tests/terraform reads what reaches the chart.
  monitoring_values = {
    grafana = {
      # Empty: the Grafana chart generates a random admin password into its Secret.
      adminPassword = ""
      sidecar = {
        dashboards = {
          enabled         = true
          label           = "grafana_dashboard"
          labelValue      = "1"
          searchNamespace = "ALL"
          # A ConfigMap annotated `grafana_folder: <name>` (helm/platform's grafanaDashboards.folder)
          # goes to <sidecar folder>/<name>/, and the provider turns that directory into the
          # Grafana folder <name>; without both, every dashboard lands in General.
          folderAnnotation = "grafana_folder"
          provider = {
            foldersFromFilesStructure = true
          }
        }
      }
    }
    prometheus = {
      prometheusSpec = {
        # Pick up ServiceMonitors/PodMonitors from every release, not only this one's.
        serviceMonitorSelectorNilUsesHelmValues = false
        podMonitorSelectorNilUsesHelmValues     = false
        ruleSelectorNilUsesHelmValues           = false
        retention                               = var.prometheus_retention
      }
    }
  }
}

# Pod Security admission: every pod of the platform and of every team meets "restricted" (the
# charts' pods do; a pod that does not, e.g. privileged or root, is refused by the API server).
resource "kubernetes_namespace_v1" "this" {
  metadata {
    name = var.namespace
    labels = {
      "app.kubernetes.io/part-of"                  = "talent"
      "pod-security.kubernetes.io/enforce"         = "restricted"
      "pod-security.kubernetes.io/enforce-version" = "latest"
      "pod-security.kubernetes.io/audit"           = "restricted"
      "pod-security.kubernetes.io/warn"            = "restricted"
    }
  }
}

# The database server's CA bundle (public: certificates, no secret), so every client checks the
# server's certificate and name (sslmode=verify-full) instead of merely encrypting (require).
data "http" "database_ca" {
  url = var.database_ca_bundle_url

  lifecycle {
    postcondition {
      condition     = self.status_code == 200 && strcontains(self.response_body, "BEGIN CERTIFICATE")
      error_message = "No PEM CA bundle at database_ca_bundle_url."
    }
  }
}

resource "kubernetes_config_map_v1" "database_ca" {
  metadata {
    name      = var.database_ca_config_map
    namespace = kubernetes_namespace_v1.this.metadata[0].name
    labels = {
      "app.kubernetes.io/part-of" = "talent"
    }
  }
  data = {
    "ca.pem" = data.http.database_ca.response_body
  }
}

resource "helm_release" "external_secrets" {
  name             = "external-secrets"
  repository       = "https://charts.external-secrets.io"
  chart            = "external-secrets"
  version          = var.external_secrets_chart_version
  namespace        = var.external_secrets_namespace
  create_namespace = true
  wait             = true

  values = [yamlencode({
    installCRDs = true
    serviceAccount = {
      name = var.external_secrets_service_account
      annotations = {
        "eks.amazonaws.com/role-arn" = var.external_secrets_role_arn
      }
    }
  })]
}

# SecretStore + ExternalSecrets in the platform namespace. A local chart (not kubernetes_manifest)
# so that plan does not need the operator's CRDs to exist yet.
resource "helm_release" "secret_sync" {
  name      = "talent-secret-sync"
  chart     = "${path.module}/charts/talent-secret-sync"
  namespace = kubernetes_namespace_v1.this.metadata[0].name
  wait      = true

  values = [yamlencode({
    region          = var.region
    refreshInterval = var.secret_refresh_interval
    externalSecrets = var.external_secrets
  })]

  depends_on = [helm_release.external_secrets]
}

resource "helm_release" "monitoring" {
  name             = "kube-prometheus-stack"
  repository       = "https://prometheus-community.github.io/helm-charts"
  chart            = "kube-prometheus-stack"
  version          = var.kube_prometheus_stack_chart_version
  namespace        = var.monitoring_namespace
  create_namespace = true
  wait             = true
  timeout          = 900

  values = [yamlencode(local.monitoring_values)]
}

# The platform release (helm/platform) has one owner: `helm upgrade --install platform` with
# helm/values/platform.yaml, the stack's `platform_values` overlay and the image tag being deployed
# (terraform/README.md, "Who owns which release"). This module installed it too, with the values
# file's tag unless the tag was passed again, so a plain apply rolled the platform back. States
# from then still hold the release: forget it, never uninstall it.
removed {
  from = helm_release.this

  lifecycle {
    destroy = false
  }
}
