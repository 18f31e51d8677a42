# The task's role holds the policy `custos iam-policy` prints for the mode (module
# `policy`, generated and checked in); the execution role only starts the task.

module "policy" {
  source              = "../policy"
  events_queue_arns   = [aws_sqs_queue.events.arn]
  witness_bucket_arns = [aws_s3_bucket.witness.arn, "${aws_s3_bucket.witness.arn}/*"]
  member_role_arns    = var.member_role_arns
  custos_key_arns     = [aws_kms_key.custos.arn]
}

data "aws_iam_policy_document" "tasks_assume" {
  statement {
    sid     = "EcsTasks"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

resource "aws_iam_role" "custos" {
  name               = var.name
  description        = "custos in ${var.mode} mode"
  assume_role_policy = data.aws_iam_policy_document.tasks_assume.json
  tags               = local.tags
}

resource "aws_iam_role_policy" "custos" {
  name   = "${var.name}-${var.mode}"
  role   = aws_iam_role.custos.id
  policy = var.mode == "remediate" ? module.policy.remediate_json : module.policy.detect_json
}

resource "aws_iam_role" "execution" {
  name               = "${var.name}-execution"
  description        = "starts the custos task: pulls the image, writes its logs, reads its secrets"
  assume_role_policy = data.aws_iam_policy_document.tasks_assume.json
  tags               = local.tags
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid       = "Logs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.custos.arn}:*"]
  }
  statement {
    sid     = "Secrets"
    effect  = "Allow"
    actions = ["secretsmanager:GetSecretValue"]
    resources = concat(
      [for s in aws_secretsmanager_secret.custos : s.arn],
      aws_secretsmanager_secret.database_url[*].arn,
    )
  }
  statement {
    sid       = "DecryptSecrets"
    effect    = "Allow"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.custos.arn]
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "${var.name}-execution"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

resource "aws_iam_role_policy_attachment" "pull" {
  role       = aws_iam_role.execution.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}
