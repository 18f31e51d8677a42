# custos in one account, in detect mode (adoption phase 1): README, "Deploy", walks
# through the next phases (assisted, supervised, operational).

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

module "custos" {
  source      = "../../modules/custos"
  mode        = var.mode
  image       = var.image
  vpc_id      = var.vpc_id
  subnet_ids  = var.subnet_ids
  config_toml = file("${path.module}/custos.toml")
  ledger      = "postgres"
}
