# The whole platform, written once. envs/dev and envs/prod are thin roots that configure the
# providers, pin their versions, hold the state backend and call this module with their
# terraform.tfvars.

locals {
  name = "talent-${var.environment}"

  tags = merge(var.tags, {
    Project     = "talent"
    Environment = var.environment
    ManagedBy   = "terraform"
  })

  # The Kubernetes Secrets the charts read (helm/README.md, "Before the first install"). Names and
  # keys are the charts' contract: tests/terraform/test_chart_contract.py renders the charts and
  # fails if any Secret or key they reference is not produced below.
  #
  # postgresql and database are the RDS master user's: the platform chart's migrate hook alone reads
  # them (it migrates and creates the roles). Every other pod connects as its own role
  # (talent_shared/db/roles.py): dagster_role for Dagster's storage, db-<role> URLs for the rest.
  k8s_secrets = {
    postgresql     = { name = "dagster-postgresql", key = "postgresql-password" }
    database       = { name = "talent-database", key = "database-url" }
    openai         = { name = "talent-openai", key = "api-key" }
    dagster_role   = { name = "talent-db-dagster", key = "postgresql-password" }
    role_passwords = { name = "talent-db-role-passwords" }
    role_url_key   = "database-url"
    webhook        = { name = "talent-webhook", key = "hmac-secret" }
  }

  # Every connection checks the server's certificate against the RDS CA bundle (a ConfigMap the
  # charts mount at this path) and the host name: sslmode=verify-full, never plain require.
  database_ca = { config_map = "talent-db-ca", path = "/etc/talent/db-ca/ca.pem" }
  db_tls      = "sslmode=verify-full&sslrootcert=/etc/talent/db-ca/ca.pem"

  # One Secrets Manager container per role password and for the webhook's signing secret; values
  # are set out of band (terraform/README.md, "Database roles"), never by Terraform.
  secrets = {
    "openai-api-key" = {
      description = "OpenAI API key (OPENAI_API_KEY). Value set out of band, never by Terraform."
      readers     = ["candidates", "jobs", "matching"]
    }
    "webhook-signing-secret" = {
      description = "The webhook's Standard Webhooks signing secret (whsec_<base64>). Value set out of band."
      readers     = []
    }
    "db-candidates" = { description = "Password of the database role talent_candidates. Value set out of band.", readers = [] }
    "db-jobs"       = { description = "Password of the database role talent_jobs. Value set out of band.", readers = [] }
    "db-matching"   = { description = "Password of the database role talent_matching. Value set out of band.", readers = [] }
    "db-dagster"    = { description = "Password of the database role talent_dagster. Value set out of band.", readers = [] }
    "db-exporter"   = { description = "Password of the database role talent_exporter. Value set out of band.", readers = [] }
    "db-ingest"     = { description = "Password of the database role talent_ingest. Value set out of band.", readers = [] }
  }
}

module "network" {
  source = "../modules/network"

  name               = local.name
  cidr               = var.vpc_cidr
  azs                = var.azs
  single_nat_gateway = var.single_nat_gateway
  tags               = local.tags
}

module "eks" {
  source = "../modules/eks"

  cluster_name                 = local.name
  cluster_version              = var.kubernetes_version
  vpc_id                       = module.network.vpc_id
  subnet_ids                   = module.network.private_subnet_ids
  endpoint_public_access       = var.eks_endpoint_public_access
  endpoint_public_access_cidrs = var.eks_endpoint_public_access_cidrs
  access_entries               = var.eks_access_entries
  node_instance_types          = var.node_instance_types
  node_capacity_type           = var.node_capacity_type
  node_min_size                = var.node_min_size
  node_max_size                = var.node_max_size
  node_desired_size            = var.node_desired_size
  tags                         = local.tags
}

module "database" {
  source = "../modules/database"

  identifier              = local.name
  engine_version          = var.postgres_engine_version
  instance_class          = var.db_instance_class
  multi_az                = var.db_multi_az
  backup_retention_period = var.db_backup_retention_period
  vpc_id                  = module.network.vpc_id
  db_subnet_group_name    = module.network.database_subnet_group_name
  allowed_security_group_ids = {
    eks_nodes = module.eks.node_security_group_id
  }
  tags = local.tags
}

module "storage" {
  source = "../modules/storage"

  name_prefix                 = local.name
  compute_logs_retention_days = var.compute_logs_retention_days
  tags                        = local.tags
}

module "registry" {
  source = "../modules/registry"

  name_prefix  = local.name
  repositories = concat(keys(var.team_service_accounts), ["platform"])
  tags         = local.tags
}

module "secrets" {
  source = "../modules/secrets"

  name_prefix             = "talent/${var.environment}"
  secrets                 = local.secrets
  oidc_provider_arn       = module.eks.oidc_provider_arn
  extra_sync_secret_arns  = [module.database.master_user_secret_arn]
  extra_sync_kms_key_arns = [module.database.kms_key_arn]
  tags                    = local.tags
}

# One least-privilege IRSA role per code location.
module "team_iam" {
  source   = "../modules/team_iam"
  for_each = var.team_service_accounts

  team              = each.key
  role_name         = "${local.name}-${each.key}"
  oidc_provider_arn = module.eks.oidc_provider_arn
  namespace         = var.kubernetes_namespace
  service_account   = each.value
  region            = var.region

  landing_bucket_arn       = module.storage.bucket_arns["landing"]
  landing_prefixes         = [for p in lookup(var.team_landing_prefixes, each.key, []) : "${var.landing_root_prefix}/${p}"]
  io_manager_bucket_arn    = module.storage.bucket_arns["io-manager"]
  io_manager_prefixes      = ["${each.key}/"]
  io_manager_read_prefixes = lookup(var.team_io_manager_read_prefixes, each.key, [])
  compute_logs_bucket_arn  = module.storage.bucket_arns["compute-logs"]
  # Its own location's logs only (<prefix><team>/, talent_shared/compute_logs.py): a team cannot
  # overwrite or plant the step logs the UI shows for another team's runs.
  compute_logs_prefix = "${var.compute_logs_prefix}${each.key}/"
  compute_logs_access = "write"
  storage_kms_key_arn = module.storage.kms_key_arn

  secret_arns         = try(module.secrets.secret_arns_by_reader[each.key], [])
  secrets_kms_key_arn = module.secrets.kms_key_arn

  tags = local.tags
}

# The platform's webserver and daemon: read compute logs, nothing else.
module "platform_iam" {
  source = "../modules/team_iam"

  team              = "platform"
  role_name         = "${local.name}-platform"
  oidc_provider_arn = module.eks.oidc_provider_arn
  namespace         = var.kubernetes_namespace
  service_account   = var.platform_service_account
  region            = var.region

  landing_bucket_arn      = module.storage.bucket_arns["landing"]
  io_manager_bucket_arn   = module.storage.bucket_arns["io-manager"]
  compute_logs_bucket_arn = module.storage.bucket_arns["compute-logs"]
  compute_logs_prefix     = var.compute_logs_prefix
  compute_logs_access     = "read"
  storage_kms_key_arn     = module.storage.kms_key_arn

  tags = local.tags
}

module "platform_release" {
  source = "../modules/platform_release"

  region                    = var.region
  namespace                 = var.kubernetes_namespace
  external_secrets_role_arn = module.secrets.sync_role_arn
  database_ca_bundle_url    = "https://truststore.pki.rds.amazonaws.com/${var.region}/${var.region}-bundle.pem"
  database_ca_config_map    = local.database_ca.config_map

  # Every value is read by the External Secrets Operator inside the cluster; Terraform only
  # handles names, ARNs and templates, so no password or key reaches its state.
  external_secrets = [
    {
      # DAGSTER_PG_PASSWORD of every Dagster pod: the RDS-managed master password.
      name = local.k8s_secrets.postgresql.name
      data = [
        { secretKey = local.k8s_secrets.postgresql.key, remoteKey = module.database.master_user_secret_arn, property = "password" },
      ]
    },
    {
      # TALENT_DATABASE_URL (psycopg, pgvector tables in the same database), composed by the
      # operator from the managed master secret: the URL only ever exists in the cluster.
      name = local.k8s_secrets.database.name
      data = [
        { secretKey = "username", remoteKey = module.database.master_user_secret_arn, property = "username" },
        { secretKey = "password", remoteKey = module.database.master_user_secret_arn, property = "password" },
      ]
      # urlquery escapes every reserved character but writes a space as "+", which libpq would
      # keep as "+" in a URI: hence the replace.
      template = {
        "database-url" = "postgresql://{{ .username | urlquery | replace \"+\" \"%20\" }}:{{ .password | urlquery | replace \"+\" \"%20\" }}@${module.database.address}:${module.database.port}/${module.database.db_name}?${local.db_tls}"
      }
    },
    {
      # DAGSTER_PG_PASSWORD of the webserver, the daemon and every code server, run and step pod:
      # Dagster's storage role, never the master user.
      name = local.k8s_secrets.dagster_role.name
      data = [
        { secretKey = local.k8s_secrets.dagster_role.key, remoteKey = module.secrets.secret_names["db-dagster"] },
      ]
    },
    {
      # TALENT_DATABASE_URL as talent_candidates, composed in the cluster like talent-database.
      name = "talent-db-candidates"
      data = [
        { secretKey = "password", remoteKey = module.secrets.secret_names["db-candidates"] },
      ]
      template = {
        "database-url" = "postgresql://talent_candidates:{{ .password | urlquery | replace \"+\" \"%20\" }}@${module.database.address}:${module.database.port}/${module.database.db_name}?${local.db_tls}"
      }
    },
    {
      # TALENT_DATABASE_URL as talent_jobs, composed in the cluster like talent-database.
      name = "talent-db-jobs"
      data = [
        { secretKey = "password", remoteKey = module.secrets.secret_names["db-jobs"] },
      ]
      template = {
        "database-url" = "postgresql://talent_jobs:{{ .password | urlquery | replace \"+\" \"%20\" }}@${module.database.address}:${module.database.port}/${module.database.db_name}?${local.db_tls}"
      }
    },
    {
      # TALENT_DATABASE_URL as talent_matching, composed in the cluster like talent-database.
      name = "talent-db-matching"
      data = [
        { secretKey = "password", remoteKey = module.secrets.secret_names["db-matching"] },
      ]
      template = {
        "database-url" = "postgresql://talent_matching:{{ .password | urlquery | replace \"+\" \"%20\" }}@${module.database.address}:${module.database.port}/${module.database.db_name}?${local.db_tls}"
      }
    },
    {
      # TALENT_DATABASE_URL as talent_exporter, composed in the cluster like talent-database.
      name = "talent-db-exporter"
      data = [
        { secretKey = "password", remoteKey = module.secrets.secret_names["db-exporter"] },
      ]
      template = {
        "database-url" = "postgresql://talent_exporter:{{ .password | urlquery | replace \"+\" \"%20\" }}@${module.database.address}:${module.database.port}/${module.database.db_name}?${local.db_tls}"
      }
    },
    {
      # TALENT_DATABASE_URL as talent_ingest, composed in the cluster like talent-database.
      name = "talent-db-ingest"
      data = [
        { secretKey = "password", remoteKey = module.secrets.secret_names["db-ingest"] },
      ]
      template = {
        "database-url" = "postgresql://talent_ingest:{{ .password | urlquery | replace \"+\" \"%20\" }}@${module.database.address}:${module.database.port}/${module.database.db_name}?${local.db_tls}"
      }
    },
    {
      # The migrate hook's TALENT_DB_PASSWORD_<ROLE>: `talent db roles` sets each role's password to
      # the one in its URL Secret above (both read the same Secrets Manager secret).
      name = local.k8s_secrets.role_passwords.name
      data = [
        { secretKey = "candidates", remoteKey = module.secrets.secret_names["db-candidates"] },
        { secretKey = "jobs", remoteKey = module.secrets.secret_names["db-jobs"] },
        { secretKey = "matching", remoteKey = module.secrets.secret_names["db-matching"] },
        { secretKey = "dagster", remoteKey = module.secrets.secret_names["db-dagster"] },
        { secretKey = "exporter", remoteKey = module.secrets.secret_names["db-exporter"] },
        { secretKey = "ingest", remoteKey = module.secrets.secret_names["db-ingest"] },
      ]
    },
    {
      # TALENT_INGEST_HMAC_SECRET of the webhook (signatures only in production, no bearer token).
      name = local.k8s_secrets.webhook.name
      data = [
        { secretKey = local.k8s_secrets.webhook.key, remoteKey = module.secrets.secret_names["webhook-signing-secret"] },
      ]
    },
    {
      # OPENAI_API_KEY: the plain-string secret talent/<env>/openai-api-key, set out of band.
      name = local.k8s_secrets.openai.name
      data = [
        { secretKey = local.k8s_secrets.openai.key, remoteKey = module.secrets.secret_names["openai-api-key"] },
      ]
    },
  ]

  depends_on = [module.eks]
}
