locals {
  fqdn = "${var.record_name}.${var.zone_name}"

  user_data = templatefile("${path.module}/user_data.sh.tftpl", {
    name       = var.name
    fqdn       = local.fqdn
    mynetworks = join(" ", var.allowed_client_cidrs)
  })

  instance_tags = merge(var.tags, { Name = "${var.name}-mail-dumpster" })
}

# --- Load balancer -------------------------------------------------------------------------------

resource "aws_lb" "this" {
  name               = "${var.name}-smtp"
  load_balancer_type = "network"
  internal           = var.internal
  subnets            = var.subnet_ids
  security_groups    = var.lb_security_group_ids

  enable_cross_zone_load_balancing = true
  enable_deletion_protection       = var.deletion_protection

  tags = {
    Name = "${var.name}-smtp"
  }
}

resource "aws_lb_target_group" "smtp" {
  name        = "${var.name}-smtp"
  vpc_id      = var.vpc_id
  port        = 25
  protocol    = "TCP"
  target_type = "instance"

  # SMTP sessions are short; do not hold a scale-in for the default 300 s.
  deregistration_delay = 30

  health_check {
    protocol            = "TCP"
    port                = "traffic-port"
    interval            = 10
    healthy_threshold   = 3
    unhealthy_threshold = 3
  }

  tags = {
    Name = "${var.name}-smtp"
  }
}

resource "aws_lb_listener" "smtp" {
  load_balancer_arn = aws_lb.this.arn
  port              = 25
  protocol          = "TCP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.smtp.arn
  }

  tags = {
    Name = "${var.name}-smtp"
  }
}

# --- Instances -----------------------------------------------------------------------------------

resource "aws_launch_template" "this" {
  name                   = "${var.name}-mail-dumpster"
  description            = "Postfix SMTP sink that discards every message"
  image_id               = var.image_id
  instance_type          = var.instance_type
  vpc_security_group_ids = var.security_group_ids
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
    Name = "${var.name}-mail-dumpster"
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
  name                      = "${var.name}-mail-dumpster"
  vpc_zone_identifier       = var.subnet_ids
  min_size                  = var.min_size
  max_size                  = var.max_size
  desired_capacity          = var.desired_capacity
  target_group_arns         = [aws_lb_target_group.smtp.arn]
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

# --- DNS -----------------------------------------------------------------------------------------

resource "aws_route53_zone" "private" {
  name          = var.zone_name
  comment       = "Private zone of ${var.name} (managed by Terraform)"
  force_destroy = false

  vpc {
    vpc_id     = var.vpc_id
    vpc_region = var.region
  }

  tags = {
    Name = var.zone_name
  }

  lifecycle {
    # moto 5.2 only makes a zone private when the request says HostedZoneConfig.PrivateZone, which
    # the provider never sends (AWS infers it from the VPC), so on moto the zone comes back public
    # and without a VPC and every plan would re-add the vpc block. Drift of the association is
    # therefore ignored; a change of VPC still takes effect, by replacing the zone (below).
    ignore_changes       = [vpc]
    replace_triggered_by = [terraform_data.zone_vpc]
  }
}

# The VPC the private zone belongs to: changing it replaces the zone (see ignore_changes above).
resource "terraform_data" "zone_vpc" {
  input = {
    vpc_id = var.vpc_id
    region = var.region
  }
}

resource "aws_route53_record" "mail_dumpster" {
  zone_id = aws_route53_zone.private.zone_id
  name    = local.fqdn
  type    = "A"

  alias {
    name                   = aws_lb.this.dns_name
    zone_id                = aws_lb.this.zone_id
    evaluate_target_health = true
  }
}
