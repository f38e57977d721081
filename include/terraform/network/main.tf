locals {
  # One public subnet per availability zone, numbered in list order so adding a zone at the end
  # never renumbers (and replaces) the existing subnets.
  subnets = { for index, az in var.availability_zones : az => index }
}

resource "aws_vpc" "this" {
  cidr_block = var.vpc_cidr

  # Both are required for Route 53 private hosted zones and for load balancer DNS names to resolve.
  enable_dns_support   = true
  enable_dns_hostnames = true

  tags = {
    Name = var.name
  }
}

# Take over the VPC's default security group and strip its rules, so nothing that lands in it by
# accident can talk to anything.
resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id

  tags = {
    Name = "${var.name}-default-deny"
  }
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id

  tags = {
    Name = var.name
  }
}

resource "aws_subnet" "public" {
  for_each = local.subnets

  vpc_id            = aws_vpc.this.id
  availability_zone = each.key
  cidr_block        = cidrsubnet(var.vpc_cidr, var.subnet_newbits, each.value)

  # Instances get a public address so user_data can install packages without a NAT gateway; their
  # security groups only admit traffic from the load balancers.
  map_public_ip_on_launch = true

  tags = {
    Name = "${var.name}-public-${each.key}"
    Tier = "public"
  }

  lifecycle {
    precondition {
      condition     = startswith(each.key, var.region)
      error_message = "Availability zone ${each.key} is not in region ${var.region}."
    }
  }
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id

  tags = {
    Name = "${var.name}-public"
  }
}

resource "aws_route" "public_internet" {
  route_table_id         = aws_route_table.public.id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this.id
}

resource "aws_route_table_association" "public" {
  for_each = aws_subnet.public

  subnet_id      = each.value.id
  route_table_id = aws_route_table.public.id
}

# --- Security groups -----------------------------------------------------------------------------
# Rules are separate resources (not inline blocks) so other stacks can add rules to these groups
# without fighting this module.

resource "aws_security_group" "lb" {
  name        = "${var.name}-lb"
  description = "Load balancers: HTTP 80 and SMTP 25 from the allowed CIDR"
  vpc_id      = aws_vpc.this.id

  tags = {
    Name = "${var.name}-lb"
  }
}

resource "aws_vpc_security_group_ingress_rule" "lb_http" {
  security_group_id = aws_security_group.lb.id
  description       = "HTTP from the allowed CIDR"
  cidr_ipv4         = var.allowed_cidr
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
}

resource "aws_vpc_security_group_ingress_rule" "lb_smtp" {
  security_group_id = aws_security_group.lb.id
  description       = "SMTP from the allowed CIDR"
  cidr_ipv4         = var.allowed_cidr
  ip_protocol       = "tcp"
  from_port         = 25
  to_port           = 25
}

resource "aws_vpc_security_group_egress_rule" "lb_to_vpc" {
  security_group_id = aws_security_group.lb.id
  description       = "Forwarded traffic and health checks to targets inside the VPC"
  cidr_ipv4         = var.vpc_cidr
  ip_protocol       = "-1"
}

resource "aws_security_group" "app" {
  name        = "${var.name}-app"
  description = "Application instances: app port from the lb security group"
  vpc_id      = aws_vpc.this.id

  tags = {
    Name = "${var.name}-app"
  }
}

resource "aws_vpc_security_group_ingress_rule" "app_from_lb" {
  security_group_id            = aws_security_group.app.id
  description                  = "App port from the load balancers"
  referenced_security_group_id = aws_security_group.lb.id
  ip_protocol                  = "tcp"
  from_port                    = var.app_port
  to_port                      = var.app_port

  lifecycle {
    # moto 5.2 drops the description of rules that reference a security group (it only reads the
    # description of CIDR rules), which would show as a change on every plan. The description is
    # set on create either way.
    ignore_changes = [description]
  }
}

resource "aws_vpc_security_group_egress_rule" "app_all" {
  security_group_id = aws_security_group.app.id
  description       = "Outbound: package mirrors, dependencies of the app"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "-1"
}

resource "aws_security_group" "mail" {
  name        = "${var.name}-mail"
  description = "Mail dumpster instances: SMTP 25 from the lb security group"
  vpc_id      = aws_vpc.this.id

  tags = {
    Name = "${var.name}-mail"
  }
}

resource "aws_vpc_security_group_ingress_rule" "mail_from_lb" {
  security_group_id            = aws_security_group.mail.id
  description                  = "SMTP from the network load balancer"
  referenced_security_group_id = aws_security_group.lb.id
  ip_protocol                  = "tcp"
  from_port                    = 25
  to_port                      = 25

  lifecycle {
    # moto 5.2 drops the description of rules that reference a security group (it only reads the
    # description of CIDR rules), which would show as a change on every plan. The description is
    # set on create either way.
    ignore_changes = [description]
  }
}

resource "aws_vpc_security_group_egress_rule" "mail_all" {
  security_group_id = aws_security_group.mail.id
  description       = "Outbound: package mirrors"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "-1"
}
