locals {
  landing_objects    = [for p in var.landing_prefixes : "${var.landing_bucket_arn}/${p}*"]
  io_rw_objects      = [for p in var.io_manager_prefixes : "${var.io_manager_bucket_arn}/${p}*"]
  io_ro_objects      = [for p in var.io_manager_read_prefixes : "${var.io_manager_bucket_arn}/${p}*"]
  compute_log_object = "${var.compute_logs_bucket_arn}/${var.compute_logs_prefix}*"
  io_list_prefixes   = concat(var.io_manager_prefixes, var.io_manager_read_prefixes)
}

# Least privilege: only this team's prefixes, only the secrets granted to it, and the KMS keys
# only through the owning service. One entry per statement, in policy order; a statement whose
# `when` is false would grant nothing (no prefix, no secret) and is left out. `list_prefixes` adds
# the condition StringLike s3:prefix = <prefix>*, `via_service` the condition
# kms:ViaService = <service>.<region>.amazonaws.com.
locals {
  statements = [
    {
      sid           = "LandingList"
      when          = length(var.landing_prefixes) > 0
      actions       = ["s3:ListBucket"]
      resources     = [var.landing_bucket_arn]
      list_prefixes = var.landing_prefixes
    },
    {
      sid       = "LandingObjects"
      when      = length(var.landing_prefixes) > 0
      actions   = ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:DeleteObject"]
      resources = local.landing_objects
    },
    {
      sid           = "IoManagerList"
      when          = length(local.io_list_prefixes) > 0
      actions       = ["s3:ListBucket"]
      resources     = [var.io_manager_bucket_arn]
      list_prefixes = local.io_list_prefixes
    },
    {
      sid       = "IoManagerReadWrite"
      when      = length(var.io_manager_prefixes) > 0
      actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
      resources = local.io_rw_objects
    },
    {
      sid       = "IoManagerReadOnly"
      when      = length(var.io_manager_read_prefixes) > 0
      actions   = ["s3:GetObject"]
      resources = local.io_ro_objects
    },
    # Run and step pods upload their stdout/stderr; only the platform (webserver) reads them back.
    {
      sid       = "ComputeLogsWrite"
      when      = var.compute_logs_access == "write"
      actions   = ["s3:PutObject"]
      resources = [local.compute_log_object]
    },
    {
      sid       = "ComputeLogsRead"
      when      = var.compute_logs_access == "read"
      actions   = ["s3:GetObject"]
      resources = [local.compute_log_object]
    },
    {
      sid           = "ComputeLogsList"
      when          = var.compute_logs_access == "read"
      actions       = ["s3:ListBucket"]
      resources     = [var.compute_logs_bucket_arn]
      list_prefixes = [var.compute_logs_prefix]
    },
    {
      sid         = "StorageKmsViaS3"
      when        = true
      actions     = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources   = [var.storage_kms_key_arn]
      via_service = "s3"
    },
    {
      sid       = "OwnSecrets"
      when      = length(var.secret_arns) > 0
      actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
      resources = var.secret_arns
    },
    {
      sid         = "SecretsKmsViaSecretsManager"
      when        = length(var.secret_arns) > 0
      actions     = ["kms:Decrypt"]
      resources   = [var.secrets_kms_key_arn]
      via_service = "secretsmanager"
    },
  ]
}

data "aws_iam_policy_document" "this" {
  dynamic "statement" {
    for_each = [for s in local.statements : merge({ list_prefixes = null, via_service = null }, s) if s.when]
    content {
      sid       = statement.value.sid
      actions   = statement.value.actions
      resources = statement.value.resources

      dynamic "condition" {
        for_each = statement.value.list_prefixes != null ? [1] : []
        content {
          test     = "StringLike"
          variable = "s3:prefix"
          values   = [for p in statement.value.list_prefixes : "${p}*"]
        }
      }

      dynamic "condition" {
        for_each = statement.value.via_service != null ? [1] : []
        content {
          test     = "StringEquals"
          variable = "kms:ViaService"
          values   = ["${statement.value.via_service}.${var.region}.amazonaws.com"]
        }
      }
    }
  }
}

resource "aws_iam_policy" "this" {
  name        = var.role_name
  description = "Least-privilege access of the ${var.team} workloads (S3 prefixes, own secrets)"
  policy      = data.aws_iam_policy_document.this.json

  tags = var.tags
}

module "this" {
  #checkov:skip=CKV_TF_1:Registry module pinned to an exact version (enforced by tests/terraform); a git commit-hash source would bypass the registry.
  source  = "terraform-aws-modules/iam/aws//modules/iam-role-for-service-accounts-eks"
  version = "5.58.0"

  role_name        = var.role_name
  role_description = "IRSA role of the ${var.team} service account ${var.namespace}/${var.service_account}"

  oidc_providers = {
    this = {
      provider_arn               = var.oidc_provider_arn
      namespace_service_accounts = ["${var.namespace}:${var.service_account}"]
    }
  }

  role_policy_arns = {
    this = aws_iam_policy.this.arn
  }

  tags = var.tags
}
