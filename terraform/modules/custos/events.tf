# AWS Config change events: EventBridge rule -> encrypted SQS queue (with a redrive
# dead-letter queue); only this rule may send.

resource "aws_sqs_queue" "dead_letters" {
  name                      = "${var.name}-events-dlq"
  kms_master_key_id         = aws_kms_key.custos.arn
  message_retention_seconds = 1209600
  tags                      = local.tags
}

resource "aws_sqs_queue" "events" {
  name                       = "${var.name}-events"
  kms_master_key_id          = aws_kms_key.custos.arn
  visibility_timeout_seconds = 300
  message_retention_seconds  = 345600
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dead_letters.arn
    maxReceiveCount     = 5
  })
  tags = local.tags
}

resource "aws_cloudwatch_event_rule" "config_changes" {
  name        = "${var.name}-config-changes"
  description = "AWS Config configuration item changes, for custos"
  event_pattern = jsonencode({
    source      = ["aws.config"]
    detail-type = ["Config Configuration Item Change"]
  })
  tags = local.tags
}

resource "aws_cloudwatch_event_target" "queue" {
  rule = aws_cloudwatch_event_rule.config_changes.name
  arn  = aws_sqs_queue.events.arn
}

data "aws_iam_policy_document" "queue" {
  statement {
    sid       = "NothingElseSends"
    effect    = "Deny"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.events.arn]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "ArnNotEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.config_changes.arn]
    }
  }
  statement {
    sid       = "OnlyTheConfigRuleSends"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.events.arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.config_changes.arn]
    }
  }
}

resource "aws_sqs_queue_policy" "events" {
  queue_url = aws_sqs_queue.events.id
  policy    = data.aws_iam_policy_document.queue.json
}
