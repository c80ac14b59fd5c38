# `team_values` is the contract with helm/code-location: each entry is a values overlay, written
# verbatim to helm/values/<team>.infra-<env>.yaml and passed after helm/values/<team>.yaml (see
# terraform/README.md). Every key must exist in helm/code-location/values.schema.json
# (tests/terraform/test_chart_contract.py validates and renders it).
output "team_values" {
  description = "Per team: the infrastructure overlay of helm/values/<team>.yaml (IRSA role annotation, ECR repository, landing zone, instance and app database Secrets, network peers)."
  value = {
    for team in keys(var.team_service_accounts) : team => {
      serviceAccount = {
        annotations = {
          "eks.amazonaws.com/role-arn" = module.team_iam[team].role_arn
        }
      }
      image = {
        repository = module.registry.repository_urls[team]
      }
      platform = {
        postgresqlSecretName = local.k8s_secrets.dagster_role.name
        databaseCaConfigMap  = local.database_ca.config_map
      }
      env = {
        TALENT_LANDING = "s3://${module.storage.bucket_names["landing"]}/${var.landing_root_prefix}"
      }
      secretEnv = {
        TALENT_DATABASE_URL = { secretName = "talent-db-${team}", key = local.k8s_secrets.role_url_key }
        OPENAI_API_KEY      = { secretName = local.k8s_secrets.openai.name, key = local.k8s_secrets.openai.key }
      }
      networkPolicy = {
        database = {
          to   = [{ ipBlock = { cidr = var.vpc_cidr } }]
          port = module.database.port
        }
        apiServer = {
          to    = [{ ipBlock = { cidr = var.vpc_cidr } }]
          ports = [443]
        }
      }
    }
  }
}

# `platform_values` is the contract with helm/platform: the infrastructure overlay written to
# helm/values/platform.infra-<env>.yaml and passed after helm/values/platform.yaml by the one
# `helm upgrade --install platform` that owns the release (terraform/README.md, "Who owns which
# release"). Terraform never installs that release, and the overlay names no image tag, so no apply
# can roll the platform's image back. Every key must exist in helm/platform/values.schema.json
# (tests/terraform/test_chart_contract.py validates and renders it).
output "platform_values" {
  description = "The infrastructure overlay of helm/values/platform.yaml for `helm upgrade --install platform` (no image tag: the deploy sets it)."
  value = {
    image = {
      repository = module.registry.repository_urls["platform"]
    }
    serviceAccount = {
      annotations = {
        "eks.amazonaws.com/role-arn" = module.platform_iam.role_arn
      }
    }
    postgresql = {
      host       = module.database.address
      port       = module.database.port
      database   = module.database.db_name
      username   = "talent_dagster"
      secretName = local.k8s_secrets.dagster_role.name
      # rds.force_ssl = 1 encrypts; verify-full also proves the server is the RDS instance
      params = {
        sslmode     = "verify-full"
        sslrootcert = local.database_ca.path
      }
      caConfigMap = local.database_ca.config_map
    }
    # The master user: the migrate hook's alone (it migrates and creates the roles).
    migrate = {
      postgresql = {
        username   = module.database.master_username
        secretName = local.k8s_secrets.postgresql.name
      }
      roles = {
        enabled        = true
        passwordSecret = local.k8s_secrets.role_passwords.name
      }
    }
    app = {
      databaseUrlSecret = {
        name = local.k8s_secrets.database.name
        key  = local.k8s_secrets.database.key
      }
    }
    costExporter = {
      databaseUrlSecret = { name = "talent-db-exporter", key = local.k8s_secrets.role_url_key }
    }
    webhook = {
      enabled           = true
      databaseUrlSecret = { name = "talent-db-ingest", key = local.k8s_secrets.role_url_key }
      auth = {
        secretName    = local.k8s_secrets.webhook.name
        tokenKey      = ""
        hmacSecretKey = local.k8s_secrets.webhook.key
      }
    }
    computeLogManager = {
      type = "S3ComputeLogManager"
      config = {
        s3ComputeLogManager = {
          bucket = module.storage.bucket_names["compute-logs"]
          prefix = var.compute_logs_prefix
          region = var.region
        }
      }
    }
    networkPolicy = {
      database = {
        to   = [{ ipBlock = { cidr = var.vpc_cidr } }]
        port = module.database.port
      }
      apiServer = {
        to    = [{ ipBlock = { cidr = var.vpc_cidr } }]
        ports = [443]
      }
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
  description = "ARN of the RDS-managed master credentials secret (synced into the cluster as the Secrets dagster-postgresql and talent-database)."
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

output "kubernetes_secret_keys" {
  description = "Keys of each Kubernetes Secret the External Secrets Operator maintains (what the charts' secretKeyRefs read)."
  value       = module.platform_release.kubernetes_secret_keys
}

output "external_secrets_role_arn" {
  description = "IRSA role ARN of the External Secrets Operator controller."
  value       = module.secrets.sync_role_arn
}

# For the roots' provider configuration (envs/*/providers.tf).
output "tags" {
  description = "Tags of every resource (the roots' AWS provider applies them as default_tags)."
  value       = local.tags
}

output "cluster_endpoint" {
  description = "EKS API endpoint (the roots' Kubernetes and Helm providers)."
  value       = module.eks.cluster_endpoint
}

output "cluster_certificate_authority_data" {
  description = "Base64 CA certificate of the EKS API (the roots' Kubernetes and Helm providers)."
  value       = module.eks.cluster_certificate_authority_data
}
