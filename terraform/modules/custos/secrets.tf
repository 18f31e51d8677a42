# Secrets the service reads at start (injected by ECS): the checkpoint signing key, the
# LLM API key and the webhook URL. Their values are put by an operator
# (`aws secretsmanager put-secret-value`), never by Terraform: no secret is in state.

locals {
  secrets = {
    signing_key = "CUSTOS_SIGNING_KEY"
    llm_api_key = "CUSTOS_LLM_API_KEY"
    webhook_url = "CUSTOS_WEBHOOK_URL"
  }
}

resource "aws_secretsmanager_secret" "custos" {
  for_each    = local.secrets
  name        = "${var.name}/${each.key}"
  description = "custos ${each.key}, read by the task as ${each.value}"
  kms_key_id  = aws_kms_key.custos.arn
  tags        = local.tags
  #checkov:skip=CKV2_AWS_57:a checkpoint signing key is rotated by `custos audit keygen` and enrolment of the new public key, an LLM key and a webhook URL by their issuers; no Lambda can do either
}
