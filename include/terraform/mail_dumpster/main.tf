locals {
  fqdn = "${var.record_name}.${var.zone_name}"

  user_data = templatefile("${path.module}/user_data.sh.tftpl", {
    name       = var.name
    fqdn       = local.fqdn
    mynetworks = join(" ", var.allowed_client_cidrs)
  })
}

# The NLB, a TCP 25 target group, the launch template and the autoscaling group.
module "service" {
  source = "../modules/asg_service"

  names = {
    load_balancer    = "${var.name}-smtp"
    target_group     = "${var.name}-smtp"
    target_group_tag = "${var.name}-smtp"
    listener_tag     = "${var.name}-smtp"
    instances        = "${var.name}-mail-dumpster"
  }

  load_balancer = {
    type                = "network"
    internal            = var.internal
    security_group_ids  = var.lb_security_group_ids
    deletion_protection = var.deletion_protection
  }
  listener = { port = 25, protocol = "TCP" }
  target_group = {
    port     = 25
    protocol = "TCP"
    health_check = {
      protocol            = "TCP"
      interval            = 10
      healthy_threshold   = 3
      unhealthy_threshold = 3
    }
  }

  vpc_id                      = var.vpc_id
  subnet_ids                  = var.subnet_ids
  instance_security_group_ids = var.security_group_ids
  launch_template_description = "Postfix SMTP sink that discards every message"
  user_data                   = local.user_data
  image_id                    = var.image_id
  instance_type               = var.instance_type
  min_size                    = var.min_size
  max_size                    = var.max_size
  desired_capacity            = var.desired_capacity
  instance_refresh            = var.instance_refresh
  tags                        = var.tags
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
    name                   = module.service.lb_dns_name
    zone_id                = module.service.lb_zone_id
    evaluate_target_health = true
  }
}
