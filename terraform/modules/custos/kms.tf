data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account   = data.aws_caller_identity.current.account_id
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.name
  # custos never changes what it runs on: its own resources carry the exclusion tag.
  tags = merge(var.tags, { "custos:exclude" = "true" })
}

# One customer managed key for what custos keeps: its queues, log group, secrets, witness
# bucket and ledger.
data "aws_iam_policy_document" "key" {
  #checkov:skip=CKV_AWS_109:a key policy's resource `*` is this key alone; the account administers its own key
  #checkov:skip=CKV_AWS_111:a key policy's resource `*` is this key alone
  #checkov:skip=CKV_AWS_356:a key policy's resource `*` is this key alone
  statement {
    sid       = "AccountAdministers"
    effect    = "Allow"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account}:root"]
    }
  }
  statement {
    sid       = "EventBridgeSendsToTheQueue"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
  statement {
    sid       = "LogsEncryptTheLogGroup"
    effect    = "Allow"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account}:log-group:/custos/*"]
    }
  }
}

resource "aws_kms_key" "custos" {
  description             = "${var.name}: queue, logs, secrets, witness and ledger"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.key.json
  tags                    = local.tags
}

resource "aws_kms_alias" "custos" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.custos.key_id
}
