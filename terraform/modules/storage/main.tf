data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

locals {
  # Rules shared by every bucket: clean up failed multipart uploads and old object versions.
  common_rule = {
    abort_incomplete_multipart_upload_days = 7
    noncurrent_version_expiration = {
      days = var.noncurrent_version_expiration_days
    }
  }

  buckets = {
    landing = {
      lifecycle_rule = [
        merge(local.common_rule, {
          id      = "landing-tiering"
          enabled = true
          filter  = {}
          transition = [
            { days = 30, storage_class = "STANDARD_IA" },
            { days = 90, storage_class = "GLACIER_IR" },
          ]
        }),
      ]
    }
    io-manager = {
      lifecycle_rule = [
        merge(local.common_rule, {
          id      = "io-manager-tiering"
          enabled = true
          filter  = {}
          transition = [
            { days = 30, storage_class = "STANDARD_IA" },
          ]
        }),
      ]
    }
    compute-logs = {
      lifecycle_rule = [
        merge(local.common_rule, {
          id      = "compute-logs-expiry"
          enabled = true
          filter  = {}
          expiration = {
            days = var.compute_logs_retention_days
          }
        }),
      ]
    }
  }

  # Globally unique and deterministic: <prefix>-<purpose>-<account>-<region>.
  bucket_names = {
    for k, _ in local.buckets :
    k => "${var.name_prefix}-${k}-${data.aws_caller_identity.current.account_id}-${data.aws_region.current.name}"
  }
}

module "kms_key" {
  source = "../kms_key"

  description = "S3 buckets of ${var.name_prefix}: landing zone, IO manager, compute logs"
  alias       = "${var.name_prefix}-s3"
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

module "this" {
  #checkov:skip=CKV_TF_1:Registry module pinned to an exact version (enforced by tests/terraform); a git commit-hash source would bypass the registry.
  source  = "terraform-aws-modules/s3-bucket/aws"
  version = "4.11.0"

  for_each = local.buckets

  bucket        = local.bucket_names[each.key]
  force_destroy = false

  control_object_ownership = true
  object_ownership         = "BucketOwnerEnforced"

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true

  versioning = {
    enabled = true
  }

  server_side_encryption_configuration = {
    rule = {
      apply_server_side_encryption_by_default = {
        sse_algorithm     = "aws:kms"
        kms_master_key_id = module.kms_key.arn
      }
      bucket_key_enabled = true
    }
  }

  # TLS-only bucket policy: deny any request without aws:SecureTransport, and TLS < 1.2.
  attach_deny_insecure_transport_policy = true
  attach_require_latest_tls_policy      = true

  lifecycle_rule = each.value.lifecycle_rule

  tags = merge(var.tags, { Purpose = each.key })
}
