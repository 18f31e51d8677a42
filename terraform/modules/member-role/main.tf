# The role custos assumes in a member account: trusted only by the custos role, and only
# with the external id; its policy is the one `custos iam-policy` prints for the mode.

module "policy" {
  source = "../policy"
}

data "aws_iam_policy_document" "trust" {
  statement {
    sid     = "OnlyCustos"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "AWS"
      identifiers = [var.custos_role_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "sts:ExternalId"
      values   = [var.external_id]
    }
  }
}

resource "aws_iam_role" "member" {
  name                 = var.name
  description          = "custos in ${var.mode} mode, assumed by ${var.custos_role_arn}"
  assume_role_policy   = data.aws_iam_policy_document.trust.json
  max_session_duration = var.max_session_duration
  tags                 = var.tags
}

resource "aws_iam_role_policy" "member" {
  name   = "custos-${var.mode}"
  role   = aws_iam_role.member.id
  policy = var.mode == "remediate" ? module.policy.remediate_json : module.policy.detect_json
}
