locals {
  major_engine_version = split(".", var.engine_version)[0]
}

# One customer-managed key for storage, Performance Insights and the master-user secret.
module "kms_key" {
  source = "../kms_key"

  description = "RDS ${var.identifier}: storage, Performance Insights and master user secret"
  alias       = "${var.identifier}-rds"
  tags        = var.tags
}

moved {
  from = aws_kms_key.this
  to   = module.kms_key.aws_kms_key.this
}

moved {
  from = aws_kms_alias.this
  to   = module.kms_key.aws_kms_alias.this
}

resource "aws_security_group" "this" {
  #checkov:skip=CKV2_AWS_5:Attached to the instance through module.this (vpc_security_group_ids), which checkov cannot see without downloading the registry module.
  name_prefix = "${var.identifier}-rds-"
  description = "PostgreSQL access to ${var.identifier} from the EKS nodes"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.identifier}-rds" })

  lifecycle {
    create_before_destroy = true
  }
}

# Keys are static (callers name the source), so for_each works while the IDs are still unknown.
resource "aws_vpc_security_group_ingress_rule" "this" {
  for_each = var.allowed_security_group_ids

  security_group_id            = aws_security_group.this.id
  referenced_security_group_id = each.value
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  description                  = "PostgreSQL from ${each.key}"
}

module "this" {
  #checkov:skip=CKV_TF_1:Registry module pinned to an exact version (enforced by tests/terraform); a git commit-hash source would bypass the registry.
  source  = "terraform-aws-modules/rds/aws"
  version = "6.12.0"

  identifier = var.identifier

  engine               = "postgres"
  engine_version       = var.engine_version
  family               = "postgres${local.major_engine_version}"
  major_engine_version = local.major_engine_version
  instance_class       = var.instance_class

  allocated_storage     = var.allocated_storage
  max_allocated_storage = var.max_allocated_storage
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = module.kms_key.arn

  db_name  = var.db_name
  username = var.master_username
  port     = 5432

  # RDS generates the password and keeps it in Secrets Manager: it never reaches Terraform state.
  manage_master_user_password   = true
  master_user_secret_kms_key_id = module.kms_key.arn

  iam_database_authentication_enabled = true

  multi_az               = var.multi_az
  db_subnet_group_name   = var.db_subnet_group_name
  create_db_subnet_group = false
  vpc_security_group_ids = [aws_security_group.this.id]
  publicly_accessible    = false

  backup_retention_period  = var.backup_retention_period
  backup_window            = "03:00-04:00"
  maintenance_window       = "Mon:04:30-Mon:05:30"
  copy_tags_to_snapshot    = true
  delete_automated_backups = false

  deletion_protection              = true
  skip_final_snapshot              = false
  final_snapshot_identifier_prefix = "${var.identifier}-final"

  auto_minor_version_upgrade = true

  performance_insights_enabled          = true
  performance_insights_kms_key_id       = module.kms_key.arn
  performance_insights_retention_period = 7

  create_monitoring_role = true
  monitoring_role_name   = "${var.identifier}-rds-monitoring"
  monitoring_interval    = 60

  enabled_cloudwatch_logs_exports        = ["postgresql", "upgrade"]
  create_cloudwatch_log_group            = true
  cloudwatch_log_group_retention_in_days = var.log_retention_in_days

  # pgvector needs no preloading on RDS: the platform chart's pre-upgrade migration job runs
  # `CREATE EXTENSION IF NOT EXISTS vector` (allowed for the master user on RDS PostgreSQL >= 15).
  parameters = [
    {
      name  = "rds.force_ssl"
      value = "1"
    },
    {
      name  = "log_min_duration_statement"
      value = "1000"
    },
    # A slow statement is logged with its bind parameters by default, and the parameters are
    # candidates' personal data (names, resumes): log the statement, never the values, also on error.
    {
      name  = "log_parameter_max_length"
      value = "0"
    },
    {
      name  = "log_parameter_max_length_on_error"
      value = "0"
    },
    {
      name  = "log_statement"
      value = "ddl"
    },
    {
      name         = "shared_preload_libraries"
      value        = "pg_stat_statements"
      apply_method = "pending-reboot"
    },
  ]

  tags = var.tags
}
