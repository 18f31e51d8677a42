# `custos serve --worker` on ECS Fargate: the workers consume the queue and run the
# schedules; the HTTP API and approval page listen on 8080 inside the VPC (no ingress is
# opened here: put a load balancer with TLS in front to reach them).

resource "aws_cloudwatch_log_group" "custos" {
  name              = "/custos/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.custos.arn
  tags              = local.tags
}

resource "aws_ecs_cluster" "custos" {
  name = var.name
  setting {
    name  = "containerInsights"
    value = "enabled"
  }
  tags = local.tags
}

locals {
  sqlite   = var.ledger == "sqlite"
  database = local.sqlite ? [] : [{ name = "CUSTOS_DATABASE_URL", valueFrom = aws_secretsmanager_secret.database_url[0].arn }]
  container = {
    name                   = "custos"
    image                  = var.image
    essential              = true
    user                   = "65532:65532"
    readonlyRootFilesystem = true
    command                = ["serve", "--worker", "--listen", "0.0.0.0:8080", "--log-format", "json"]
    portMappings           = [{ containerPort = 8080, protocol = "tcp" }]
    environment = concat(
      [
        { name = "CUSTOS_CONFIG_TOML", value = var.config_toml },
        { name = "CUSTOS_QUEUE_URL", value = aws_sqs_queue.events.url },
        { name = "AWS_REGION", value = local.region },
      ],
      local.sqlite ? [{ name = "CUSTOS_DATABASE_URL", value = "sqlite:///var/lib/custos/ledger.db" }] : [],
    )
    secrets = concat(
      [for k, env in local.secrets : { name = env, valueFrom = aws_secretsmanager_secret.custos[k].arn }],
      local.database,
    )
    mountPoints = local.sqlite ? [{ sourceVolume = "ledger", containerPath = "/var/lib/custos", readOnly = false }] : []
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.custos.name
        awslogs-region        = local.region
        awslogs-stream-prefix = "custos"
      }
    }
  }
}

resource "aws_ecs_task_definition" "custos" {
  family                   = var.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  task_role_arn            = aws_iam_role.custos.arn
  execution_role_arn       = aws_iam_role.execution.arn
  container_definitions    = jsonencode([local.container])
  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  dynamic "volume" {
    for_each = local.sqlite ? [1] : []
    content {
      name = "ledger"
      efs_volume_configuration {
        file_system_id     = aws_efs_file_system.ledger[0].id
        transit_encryption = "ENABLED"
        authorization_config {
          access_point_id = aws_efs_access_point.ledger[0].id
          iam             = "ENABLED"
        }
      }
    }
  }
  tags = local.tags
}

resource "aws_ecs_service" "custos" {
  name            = var.name
  cluster         = aws_ecs_cluster.custos.id
  task_definition = aws_ecs_task_definition.custos.arn
  desired_count   = local.sqlite ? 1 : var.workers
  launch_type     = "FARGATE"
  # One SQLite writer at a time: the old task stops before the new one starts.
  deployment_minimum_healthy_percent = local.sqlite ? 0 : 50
  deployment_maximum_percent         = local.sqlite ? 100 : 200

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [aws_security_group.service.id]
    assign_public_ip = false
  }
  tags = local.tags
}
