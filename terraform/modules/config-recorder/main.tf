# An AWS Config recorder and delivery channel, for accounts without one (custos reads
# Config's inventory with `--source config`, and its change events through EventBridge).

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  account   = data.aws_caller_identity.current.account_id
  partition = data.aws_partition.current.partition
}

resource "aws_s3_bucket" "delivery" {
  bucket_prefix = "${var.name}-config-"
  tags          = var.tags
  #checkov:skip=CKV_AWS_18:Config's delivery is itself the record; access logging of it is left to the account's CloudTrail data events
  #checkov:skip=CKV_AWS_144:Config snapshots are reproducible from the recorder; a replica would add a role with write access
  #checkov:skip=CKV2_AWS_62:nothing consumes events of the delivery bucket
}

resource "aws_s3_bucket_versioning" "delivery" {
  bucket = aws_s3_bucket.delivery.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "delivery" {
  bucket = aws_s3_bucket.delivery.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "delivery" {
  bucket                  = aws_s3_bucket.delivery.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_lifecycle_configuration" "delivery" {
  bucket = aws_s3_bucket.delivery.id
  rule {
    id     = "retention"
    status = "Enabled"
    filter {}
    expiration {
      days = var.retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

data "aws_iam_policy_document" "delivery" {
  statement {
    sid       = "ConfigChecksTheBucket"
    effect    = "Allow"
    actions   = ["s3:GetBucketAcl", "s3:ListBucket"]
    resources = [aws_s3_bucket.delivery.arn]
    principals {
      type        = "Service"
      identifiers = ["config.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
  statement {
    sid       = "ConfigDelivers"
    effect    = "Allow"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.delivery.arn}/AWSLogs/${local.account}/Config/*"]
    principals {
      type        = "Service"
      identifiers = ["config.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
  statement {
    sid       = "TlsOnly"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.delivery.arn, "${aws_s3_bucket.delivery.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "delivery" {
  bucket = aws_s3_bucket.delivery.id
  policy = data.aws_iam_policy_document.delivery.json
}

resource "aws_iam_service_linked_role" "config" {
  count            = var.create_service_linked_role ? 1 : 0
  aws_service_name = "config.amazonaws.com"
}

locals {
  config_role_arn = "arn:${local.partition}:iam::${local.account}:role/aws-service-role/config.amazonaws.com/AWSServiceRoleForConfig"
}

resource "aws_config_configuration_recorder" "this" {
  name       = var.name
  role_arn   = local.config_role_arn
  depends_on = [aws_iam_service_linked_role.config]
  recording_group {
    all_supported                 = var.all_supported
    include_global_resource_types = var.all_supported ? var.include_global_resource_types : null
    resource_types                = var.all_supported ? null : var.resource_types
  }
}

resource "aws_config_delivery_channel" "this" {
  name           = var.name
  s3_bucket_name = aws_s3_bucket.delivery.bucket
  s3_kms_key_arn = var.kms_key_arn
  snapshot_delivery_properties {
    delivery_frequency = var.snapshot_frequency
  }
  depends_on = [aws_config_configuration_recorder.this, aws_s3_bucket_policy.delivery]
}

resource "aws_config_configuration_recorder_status" "this" {
  name       = aws_config_configuration_recorder.this.name
  is_enabled = true
  depends_on = [aws_config_delivery_channel.this]
}
