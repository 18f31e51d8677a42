# The checkpoint witness: signed checkpoints of the ledger, kept under Object Lock in
# compliance mode, so that no one (the account's root user included) can delete or
# rewrite one before its retention ends.

resource "aws_s3_bucket" "witness" {
  bucket_prefix       = "${var.name}-witness-"
  object_lock_enabled = true
  tags                = var.tags
  #checkov:skip=CKV_AWS_18:the witness holds one small signed note per checkpoint and every write is itself recorded in the ledger; access logging is left to the account's CloudTrail data events
  #checkov:skip=CKV_AWS_144:a second region's copy is a second witness (`[evidence]` takes several); replication would add a role with write access to the copy
  #checkov:skip=CKV2_AWS_62:nothing consumes events of the witness; `custos audit verify` reads it
}

resource "aws_s3_bucket_versioning" "witness" {
  bucket = aws_s3_bucket.witness.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_object_lock_configuration" "witness" {
  bucket = aws_s3_bucket.witness.id
  rule {
    default_retention {
      mode = "COMPLIANCE"
      days = var.witness_retention_days
    }
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "witness" {
  bucket = aws_s3_bucket.witness.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.custos.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "witness" {
  bucket                  = aws_s3_bucket.witness.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "witness" {
  bucket = aws_s3_bucket.witness.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "witness" {
  bucket = aws_s3_bucket.witness.id
  rule {
    id     = "incomplete-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

data "aws_iam_policy_document" "witness" {
  statement {
    sid       = "TlsOnly"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.witness.arn, "${aws_s3_bucket.witness.arn}/*"]
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

resource "aws_s3_bucket_policy" "witness" {
  bucket = aws_s3_bucket.witness.id
  policy = data.aws_iam_policy_document.witness.json
}
