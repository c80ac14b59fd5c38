locals {
  landing_objects    = [for p in var.landing_prefixes : "${var.landing_bucket_arn}/${p}*"]
  io_rw_objects      = [for p in var.io_manager_prefixes : "${var.io_manager_bucket_arn}/${p}*"]
  io_ro_objects      = [for p in var.io_manager_read_prefixes : "${var.io_manager_bucket_arn}/${p}*"]
  compute_log_object = "${var.compute_logs_bucket_arn}/${var.compute_logs_prefix}*"
  io_list_prefixes   = concat(var.io_manager_prefixes, var.io_manager_read_prefixes)
}

# Least privilege: only this team's prefixes, only the secrets granted to it, and the KMS keys
# only through the owning service.
data "aws_iam_policy_document" "this" {
  dynamic "statement" {
    for_each = length(var.landing_prefixes) > 0 ? [1] : []
    content {
      sid       = "LandingList"
      actions   = ["s3:ListBucket"]
      resources = [var.landing_bucket_arn]
      condition {
        test     = "StringLike"
        variable = "s3:prefix"
        values   = [for p in var.landing_prefixes : "${p}*"]
      }
    }
  }

  dynamic "statement" {
    for_each = length(var.landing_prefixes) > 0 ? [1] : []
    content {
      sid       = "LandingObjects"
      actions   = ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:DeleteObject"]
      resources = local.landing_objects
    }
  }

  dynamic "statement" {
    for_each = length(local.io_list_prefixes) > 0 ? [1] : []
    content {
      sid       = "IoManagerList"
      actions   = ["s3:ListBucket"]
      resources = [var.io_manager_bucket_arn]
      condition {
        test     = "StringLike"
        variable = "s3:prefix"
        values   = [for p in local.io_list_prefixes : "${p}*"]
      }
    }
  }

  dynamic "statement" {
    for_each = length(var.io_manager_prefixes) > 0 ? [1] : []
    content {
      sid       = "IoManagerReadWrite"
      actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
      resources = local.io_rw_objects
    }
  }

  dynamic "statement" {
    for_each = length(var.io_manager_read_prefixes) > 0 ? [1] : []
    content {
      sid       = "IoManagerReadOnly"
      actions   = ["s3:GetObject"]
      resources = local.io_ro_objects
    }
  }

  # Run and step pods upload their stdout/stderr; only the platform (webserver) reads them back.
  dynamic "statement" {
    for_each = var.compute_logs_access == "write" ? [1] : []
    content {
      sid       = "ComputeLogsWrite"
      actions   = ["s3:PutObject"]
      resources = [local.compute_log_object]
    }
  }

  dynamic "statement" {
    for_each = var.compute_logs_access == "read" ? [1] : []
    content {
      sid       = "ComputeLogsRead"
      actions   = ["s3:GetObject"]
      resources = [local.compute_log_object]
    }
  }

  dynamic "statement" {
    for_each = var.compute_logs_access == "read" ? [1] : []
    content {
      sid       = "ComputeLogsList"
      actions   = ["s3:ListBucket"]
      resources = [var.compute_logs_bucket_arn]
      condition {
        test     = "StringLike"
        variable = "s3:prefix"
        values   = ["${var.compute_logs_prefix}*"]
      }
    }
  }

  statement {
    sid       = "StorageKmsViaS3"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.storage_kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${var.region}.amazonaws.com"]
    }
  }

  dynamic "statement" {
    for_each = length(var.secret_arns) > 0 ? [1] : []
    content {
      sid       = "OwnSecrets"
      actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
      resources = var.secret_arns
    }
  }

  dynamic "statement" {
    for_each = length(var.secret_arns) > 0 ? [1] : []
    content {
      sid       = "SecretsKmsViaSecretsManager"
      actions   = ["kms:Decrypt"]
      resources = [var.secrets_kms_key_arn]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["secretsmanager.${var.region}.amazonaws.com"]
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
