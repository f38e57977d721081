# A service behind a load balancer: the balancer, one target group and listener, and an autoscaling
# group of instances from a launch template registered in the target group. The calling root
# module renders user_data and chooses names, protocol and health check.

locals {
  instance_tags = merge(var.tags, { Name = var.names.instances })
}

# --- Load balancer -------------------------------------------------------------------------------

resource "aws_lb" "this" {
  name               = var.names.load_balancer
  load_balancer_type = var.load_balancer.type
  internal           = var.load_balancer.internal
  subnets            = var.subnet_ids
  security_groups    = var.load_balancer.security_group_ids

  # Each setting exists for one type only; null leaves it to the provider for the other.
  drop_invalid_header_fields       = var.load_balancer.type == "application" ? true : null
  enable_cross_zone_load_balancing = var.load_balancer.type == "network" ? true : null
  enable_deletion_protection       = var.load_balancer.deletion_protection

  tags = {
    Name = var.names.load_balancer
  }
}

resource "aws_lb_target_group" "this" {
  name        = var.names.target_group
  vpc_id      = var.vpc_id
  port        = var.target_group.port
  protocol    = var.target_group.protocol
  target_type = "instance"

  # Short sessions: do not hold a scale-in for the default 300 s.
  deregistration_delay = 30

  health_check {
    protocol            = var.target_group.health_check.protocol
    port                = "traffic-port"
    path                = var.target_group.health_check.path
    matcher             = var.target_group.health_check.matcher
    interval            = var.target_group.health_check.interval
    timeout             = var.target_group.health_check.timeout
    healthy_threshold   = var.target_group.health_check.healthy_threshold
    unhealthy_threshold = var.target_group.health_check.unhealthy_threshold
  }

  tags = {
    Name = var.names.target_group_tag
  }

  lifecycle {
    # A replacement needs a new name (e.g. the port in it) so the new group exists before the old goes.
    create_before_destroy = true
  }
}

resource "aws_lb_listener" "this" {
  load_balancer_arn = aws_lb.this.arn
  port              = var.listener.port
  protocol          = var.listener.protocol

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this.arn
  }

  tags = {
    Name = var.names.listener_tag
  }
}

# --- Instances -----------------------------------------------------------------------------------

resource "aws_launch_template" "this" {
  name                   = var.names.instances
  description            = var.launch_template_description
  image_id               = var.image_id
  instance_type          = var.instance_type
  vpc_security_group_ids = var.instance_security_group_ids
  user_data              = base64encode(var.user_data)
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
    Name = var.names.instances
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
  name                      = var.names.instances
  vpc_zone_identifier       = var.subnet_ids
  min_size                  = var.min_size
  max_size                  = var.max_size
  desired_capacity          = var.desired_capacity
  target_group_arns         = [aws_lb_target_group.this.arn]
  health_check_type         = "ELB"
  health_check_grace_period = 180

  launch_template {
    id      = aws_launch_template.this.id
    version = aws_launch_template.this.latest_version
  }

  # moto 5.2 does not implement StartInstanceRefresh: the local profile forces instance_refresh off.
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
