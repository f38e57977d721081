locals {
  # The module's own keys win: the app must listen where the target group sends traffic.
  app_env = merge(var.app_env, {
    PORT              = tostring(var.app_port)
    APP_PORT          = tostring(var.app_port)
    HEALTH_CHECK_PATH = var.health_check_path
  })

  # Escape for a double-quoted value in a systemd EnvironmentFile (the same rules as a POSIX shell).
  app_env_escaped = {
    for key, value in local.app_env :
    key => replace(replace(replace(replace(value, "\\", "\\\\"), "\"", "\\\""), "$", "\\$"), "`", "\\`")
  }

  user_data = templatefile("${path.module}/user_data.sh.tftpl", {
    name        = var.name
    app_port    = var.app_port
    env         = local.app_env_escaped
    app_command = trimspace(var.app_command)
  })

  instance_tags = merge(var.tags, { Name = "${var.name}-app" })
}

# --- Load balancer -------------------------------------------------------------------------------

resource "aws_lb" "this" {
  name               = "${var.name}-alb"
  load_balancer_type = "application"
  internal           = var.internal
  subnets            = var.subnet_ids
  security_groups    = [var.lb_security_group_id]

  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection

  tags = {
    Name = "${var.name}-alb"
  }
}

resource "aws_lb_target_group" "app" {
  # The port is part of the name so a port change can create the new group before the old one goes.
  name        = "${var.name}-${var.app_port}"
  vpc_id      = var.vpc_id
  port        = var.app_port
  protocol    = "HTTP"
  target_type = "instance"

  deregistration_delay = 30

  health_check {
    protocol            = "HTTP"
    port                = "traffic-port"
    path                = var.health_check_path
    matcher             = "200"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  tags = {
    Name = "${var.name}-app"
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.app.arn
  }

  tags = {
    Name = "${var.name}-http"
  }
}

# --- Instances -----------------------------------------------------------------------------------

resource "aws_launch_template" "this" {
  name                   = "${var.name}-app"
  description            = "Application instances of ${var.name}"
  image_id               = var.image_id
  instance_type          = var.instance_type
  vpc_security_group_ids = [var.app_security_group_id]
  user_data              = base64encode(local.user_data)
  update_default_version = true

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  monitoring {
    enabled = true
  }

  tags = {
    Name = "${var.name}-app"
  }

  lifecycle {
    # moto 5.2 copies the template's own tags into its launch data as a tag specification of type
    # "launch-template", which would show as a change on every plan. The module sets no
    # tag_specifications (instances are tagged by the autoscaling group), so ignoring them hides
    # nothing it manages.
    ignore_changes = [tag_specifications]
  }
}

resource "aws_autoscaling_group" "this" {
  name                      = "${var.name}-app"
  vpc_zone_identifier       = var.subnet_ids
  min_size                  = var.min_size
  max_size                  = var.max_size
  desired_capacity          = var.desired_capacity
  target_group_arns         = [aws_lb_target_group.app.arn]
  health_check_type         = "ELB"
  health_check_grace_period = 180

  launch_template {
    id      = aws_launch_template.this.id
    version = aws_launch_template.this.latest_version
  }

  dynamic "instance_refresh" {
    for_each = var.instance_refresh ? [1] : []
    content {
      strategy = "Rolling"
      preferences {
        min_healthy_percentage = 50
      }
    }
  }

  # default_tags do not reach what the group launches: propagate the tags to the instances.
  dynamic "tag" {
    for_each = local.instance_tags
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }

  lifecycle {
    precondition {
      condition     = var.min_size <= var.desired_capacity && var.desired_capacity <= var.max_size
      error_message = "desired_capacity must lie between min_size and max_size."
    }
  }
}
