locals {
  # The module's own keys win: the app must listen where the target group sends traffic. The region
  # is a default (boto3 in the app needs one to reach Secrets Manager); app_env may override it.
  app_env = merge({ AWS_DEFAULT_REGION = var.region }, var.app_env, {
    PORT              = tostring(var.app_port)
    APP_PORT          = tostring(var.app_port)
    HEALTH_CHECK_PATH = var.health_check_path
  })

  # Escape for a double-quoted value in a systemd EnvironmentFile (the same rules as a POSIX shell).
  app_env_escaped = {
    for key, value in local.app_env :
    key => replace(replace(replace(replace(value, "\\", "\\\\"), "\"", "\\\""), "$", "\\$"), "`", "\\`")
  }
}

# The ALB, an HTTP target group on app_port, the launch template and the autoscaling group.
module "service" {
  source = "../modules/asg_service"

  names = {
    load_balancer = "${var.name}-alb"
    # The port is part of the name so a port change can create the new group before the old one goes.
    target_group     = "${var.name}-${var.app_port}"
    target_group_tag = "${var.name}-app"
    listener_tag     = "${var.name}-http"
    instances        = "${var.name}-app"
  }

  load_balancer = {
    type                = "application"
    internal            = var.internal
    security_group_ids  = [var.lb_security_group_id]
    deletion_protection = var.deletion_protection
  }
  listener = { port = 80, protocol = "HTTP" }
  target_group = {
    port     = var.app_port
    protocol = "HTTP"
    health_check = {
      protocol            = "HTTP"
      path                = var.health_check_path
      matcher             = "200"
      interval            = 15
      timeout             = 5
      healthy_threshold   = 2
      unhealthy_threshold = 3
    }
  }

  vpc_id                      = var.vpc_id
  subnet_ids                  = var.subnet_ids
  instance_security_group_ids = [var.app_security_group_id]
  launch_template_description = "Application instances of ${var.name}"
  user_data = templatefile("${path.module}/user_data.sh.tftpl", {
    name        = var.name
    app_port    = var.app_port
    env         = local.app_env_escaped
    app_command = trimspace(var.app_command)
    artifact    = var.app_artifact == null ? { url = "", sha256 = "" } : var.app_artifact
  })
  image_id         = var.image_id
  instance_type    = var.instance_type
  min_size         = var.min_size
  max_size         = var.max_size
  desired_capacity = var.desired_capacity
  instance_refresh = var.instance_refresh
  tags             = var.tags
}
