# custos in a security account, reaching member accounts through the `member-role`
# module (deployed in each member account with its own provider).

terraform {
  required_version = ">= 1.6"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

provider "aws" {
  region = var.region
}

provider "aws" {
  alias  = "member"
  region = var.region
  assume_role {
    role_arn = var.member_admin_role_arn
  }
}

module "custos" {
  source = "../../modules/custos"
  # The security account itself is not a target here: its own role only reads.
  mode             = var.hub_mode
  image            = var.image
  vpc_id           = var.vpc_id
  subnet_ids       = var.subnet_ids
  config_toml      = templatefile("${path.module}/custos.toml.tftpl", { member_account = var.member_account_id, member_role_arn = "arn:aws:iam::${var.member_account_id}:role/custos-member", external_id = var.external_id })
  ledger           = "postgres"
  member_role_arns = ["arn:aws:iam::${var.member_account_id}:role/custos-member"]
}

module "member" {
  source          = "../../modules/member-role"
  providers       = { aws = aws.member }
  custos_role_arn = module.custos.role_arn
  external_id     = var.external_id
  mode            = var.mode
}

module "member_config" {
  source      = "../../modules/config-recorder"
  count       = var.member_needs_recorder ? 1 : 0
  providers   = { aws = aws.member }
  kms_key_arn = var.member_config_kms_key_arn
}
