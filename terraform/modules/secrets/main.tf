data "aws_region" "current" {}

module "kms_key" {
  source = "../kms_key"

  description = "Secrets Manager secrets of ${var.name_prefix}"
  alias       = "${replace(var.name_prefix, "/", "-")}-secrets"
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

# Containers only: no aws_secretsmanager_secret_version here, so no value ever enters the
# Terraform state. Operators set values out of band (see terraform/README.md).
resource "aws_secretsmanager_secret" "this" {
  #checkov:skip=CKV2_AWS_57:Values are third-party API keys (e.g. OpenAI) no rotation Lambda can mint, and role passwords the platform's migrate hook applies on upgrade; rotation is a documented manual runbook.
  for_each = var.secrets

  name                    = "${var.name_prefix}/${each.key}"
  description             = each.value.description
  kms_key_id              = module.kms_key.arn
  recovery_window_in_days = var.recovery_window_in_days

  tags = merge(var.tags, { Readers = join(" ", sort(each.value.readers)) })
}

locals {
  sync_secret_arns = concat([for s in aws_secretsmanager_secret.this : s.arn], var.extra_sync_secret_arns)
  sync_kms_keys    = concat([module.kms_key.arn], var.extra_sync_kms_key_arns)
}

# Read-only access for the in-cluster External Secrets Operator: exactly these secrets.
data "aws_iam_policy_document" "sync" {
  statement {
    sid       = "ReadSyncedSecrets"
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    resources = local.sync_secret_arns
  }

  statement {
    sid       = "DecryptViaSecretsManager"
    actions   = ["kms:Decrypt"]
    resources = local.sync_kms_keys
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${data.aws_region.current.name}.amazonaws.com"]
    }
  }
}

resource "aws_iam_policy" "sync" {
  name        = "${replace(var.name_prefix, "/", "-")}-external-secrets"
  description = "External Secrets Operator: read the platform's secrets"
  policy      = data.aws_iam_policy_document.sync.json

  tags = var.tags
}

module "sync_role" {
  #checkov:skip=CKV_TF_1:Registry module pinned to an exact version (enforced by tests/terraform); a git commit-hash source would bypass the registry.
  source  = "terraform-aws-modules/iam/aws//modules/iam-role-for-service-accounts-eks"
  version = "5.58.0"

  role_name        = "${replace(var.name_prefix, "/", "-")}-external-secrets"
  role_description = "IRSA role of the External Secrets Operator controller"

  oidc_providers = {
    this = {
      provider_arn               = var.oidc_provider_arn
      namespace_service_accounts = ["${var.sync_namespace}:${var.sync_service_account}"]
    }
  }

  role_policy_arns = {
    this = aws_iam_policy.sync.arn
  }

  tags = var.tags
}
