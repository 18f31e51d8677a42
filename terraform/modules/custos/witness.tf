# The checkpoint witness: signed checkpoints of the ledger, kept under Object Lock in
# compliance mode, so that no one (the account's root user included) can delete or
# rewrite one before its retention ends.

resource "aws_s3_bucket" "witness" {
  bucket_prefix       = "${var.name}-witness-"
  object_lock_enabled = true
  tags                = local.tags
  #checkov:skip=CKV_AWS_18:the witness holds one small signed note per checkpoint and every write is itself recorded in the ledger; access logging is left to the account's CloudTrail data events
  #checkov:skip=CKV_AWS_144:a second region's copy is a second witness (`[evidence]` takes several); replication would add a role with write access to the copy
  #checkov:skip=CKV2_AWS_62:nothing consumes events of the witness; `custos audit verify` reads it
  #checkov:skip=CKV_AWS_145:SSE-S3 on purpose: a KMS key can be disabled or scheduled for deletion by the account, making the evidence unreadable
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

# SSE-S3, not the custos key: a key can be disabled or scheduled for deletion, which
# would make the witness unreadable whatever Object Lock keeps.
resource "aws_s3_bucket_server_side_encryption_configuration" "witness" {
  bucket = aws_s3_bucket.witness.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
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
  # A checkpoint is written once: a write that could replace one (no `If-None-Match: *`)
  # is refused, so no newer version can hide the first (custos's witness sends it).
  statement {
    sid       = "CreateOnly"
    effect    = "Deny"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.witness.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Null"
      variable = "s3:if-none-match"
      values   = ["true"]
    }
  }
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
