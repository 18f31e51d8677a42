# The ledger: RDS PostgreSQL for many workers, or SQLite on an encrypted EFS volume for
# one. The database URL is kept in Secrets Manager and injected as CUSTOS_DATABASE_URL.

resource "aws_security_group" "service" {
  name        = "${var.name}-service"
  description = "custos tasks: HTTPS out to AWS APIs and the LLM endpoint"
  vpc_id      = var.vpc_id
  tags        = local.tags
}

# Rules as resources of their own (an inline block would remove the others on apply).
resource "aws_vpc_security_group_egress_rule" "service_https" {
  security_group_id = aws_security_group.service.id
  description       = "HTTPS to AWS APIs (or VPC endpoints) and the configured LLM endpoint"
  cidr_ipv4         = "0.0.0.0/0"
  from_port         = 443
  to_port           = 443
  ip_protocol       = "tcp"
}

resource "aws_security_group" "ledger" {
  name        = "${var.name}-ledger"
  description = "the custos ledger: reachable from the custos tasks only"
  vpc_id      = var.vpc_id
  tags        = local.tags
}

resource "aws_vpc_security_group_ingress_rule" "ledger_postgres" {
  count                        = var.ledger == "postgres" ? 1 : 0
  security_group_id            = aws_security_group.ledger.id
  description                  = "PostgreSQL from the custos tasks"
  referenced_security_group_id = aws_security_group.service.id
  from_port                    = 5432
  to_port                      = 5432
  ip_protocol                  = "tcp"
}

resource "aws_vpc_security_group_ingress_rule" "ledger_nfs" {
  count                        = var.ledger == "sqlite" ? 1 : 0
  security_group_id            = aws_security_group.ledger.id
  description                  = "NFS (EFS) from the custos task"
  referenced_security_group_id = aws_security_group.service.id
  from_port                    = 2049
  to_port                      = 2049
  ip_protocol                  = "tcp"
}

resource "aws_vpc_security_group_egress_rule" "service_ledger" {
  security_group_id            = aws_security_group.service.id
  description                  = "the ledger"
  referenced_security_group_id = aws_security_group.ledger.id
  from_port                    = var.ledger == "postgres" ? 5432 : 2049
  to_port                      = var.ledger == "postgres" ? 5432 : 2049
  ip_protocol                  = "tcp"
}

resource "aws_db_subnet_group" "ledger" {
  count      = var.ledger == "postgres" ? 1 : 0
  name       = "${var.name}-ledger"
  subnet_ids = var.subnet_ids
  tags       = local.tags
}

resource "aws_db_parameter_group" "ledger" {
  count  = var.ledger == "postgres" ? 1 : 0
  name   = "${var.name}-ledger"
  family = "postgres16"
  tags   = local.tags

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }
  parameter {
    name  = "log_statement"
    value = "ddl"
  }
  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }
}

resource "random_password" "ledger" {
  count   = var.ledger == "postgres" ? 1 : 0
  length  = 40
  special = false
}

resource "aws_db_instance" "ledger" {
  count                               = var.ledger == "postgres" ? 1 : 0
  identifier                          = "${var.name}-ledger"
  engine                              = "postgres"
  engine_version                      = "16"
  instance_class                      = var.db_instance_class
  allocated_storage                   = 20
  max_allocated_storage               = 200
  db_name                             = "custos"
  username                            = "custos"
  password                            = random_password.ledger[0].result
  db_subnet_group_name                = aws_db_subnet_group.ledger[0].name
  parameter_group_name                = aws_db_parameter_group.ledger[0].name
  vpc_security_group_ids              = [aws_security_group.ledger.id]
  storage_encrypted                   = true
  kms_key_id                          = aws_kms_key.custos.arn
  multi_az                            = true
  publicly_accessible                 = false
  deletion_protection                 = true
  backup_retention_period             = 35
  copy_tags_to_snapshot               = true
  auto_minor_version_upgrade          = true
  iam_database_authentication_enabled = true
  performance_insights_enabled        = true
  performance_insights_kms_key_id     = aws_kms_key.custos.arn
  monitoring_interval                 = 60
  monitoring_role_arn                 = aws_iam_role.rds_monitoring[0].arn
  enabled_cloudwatch_logs_exports     = ["postgresql", "upgrade"]
  skip_final_snapshot                 = false
  final_snapshot_identifier           = "${var.name}-ledger-final"
  tags                                = local.tags
}

data "aws_iam_policy_document" "rds_monitoring_assume" {
  statement {
    sid     = "RdsMonitoring"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["monitoring.rds.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "rds_monitoring" {
  count              = var.ledger == "postgres" ? 1 : 0
  name               = "${var.name}-rds-monitoring"
  description        = "RDS enhanced monitoring of the custos ledger"
  assume_role_policy = data.aws_iam_policy_document.rds_monitoring_assume.json
  tags               = local.tags
}

resource "aws_iam_role_policy_attachment" "rds_monitoring" {
  count      = var.ledger == "postgres" ? 1 : 0
  role       = aws_iam_role.rds_monitoring[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

resource "aws_secretsmanager_secret" "database_url" {
  count       = var.ledger == "postgres" ? 1 : 0
  name        = "${var.name}/database_url"
  description = "custos ledger URL (CUSTOS_DATABASE_URL)"
  kms_key_id  = aws_kms_key.custos.arn
  tags        = local.tags
  #checkov:skip=CKV2_AWS_57:the URL carries the master password Terraform set (it is in Terraform's state too: keep the state encrypted and access-controlled); rotate it with the RDS password and re-apply
}

resource "aws_secretsmanager_secret_version" "database_url" {
  count     = var.ledger == "postgres" ? 1 : 0
  secret_id = aws_secretsmanager_secret.database_url[0].id
  secret_string = format(
    "postgres://custos:%s@%s/custos?sslmode=require",
    random_password.ledger[0].result,
    aws_db_instance.ledger[0].endpoint,
  )
}

resource "aws_efs_file_system" "ledger" {
  count      = var.ledger == "sqlite" ? 1 : 0
  encrypted  = true
  kms_key_id = aws_kms_key.custos.arn
  tags       = merge(local.tags, { Name = "${var.name}-ledger" })
}

resource "aws_efs_backup_policy" "ledger" {
  count          = var.ledger == "sqlite" ? 1 : 0
  file_system_id = aws_efs_file_system.ledger[0].id
  backup_policy {
    status = "ENABLED"
  }
}

resource "aws_efs_mount_target" "ledger" {
  for_each        = var.ledger == "sqlite" ? toset(var.subnet_ids) : toset([])
  file_system_id  = aws_efs_file_system.ledger[0].id
  subnet_id       = each.value
  security_groups = [aws_security_group.ledger.id]
}

resource "aws_efs_access_point" "ledger" {
  count          = var.ledger == "sqlite" ? 1 : 0
  file_system_id = aws_efs_file_system.ledger[0].id
  posix_user {
    uid = 65532
    gid = 65532
  }
  root_directory {
    path = "/custos"
    creation_info {
      owner_uid   = 65532
      owner_gid   = 65532
      permissions = "0700"
    }
  }
  tags = local.tags
}
