data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

# A customer-managed key for one service. The key policy only delegates to the account's IAM
# (the AWS default): a principal gets no use of the key until an IAM policy grants it, and the
# platform's IAM policies grant it, if at all, only through the owning service (kms:ViaService).
resource "aws_kms_key" "this" {
  description             = var.description
  enable_key_rotation     = true
  deletion_window_in_days = var.deletion_window_in_days

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministers"
        Effect    = "Allow"
        Principal = { AWS = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
    ]
  })

  tags = var.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.alias}"
  target_key_id = aws_kms_key.this.key_id
}
