variable "name" {
  description = "Prefix for every resource name, e.g. \"shop-mail\". Lowercase letters, digits and hyphens."
  type        = string
}

variable "region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", var.region))
    error_message = "region must look like an AWS region name, e.g. \"us-east-1\"."
  }
}

variable "tags" {
  description = "Tags applied to every resource through the provider's default_tags, and propagated by the autoscaling group to the instances it launches."
  type        = map(string)
  default     = {}
}

variable "vpc_id" {
  description = "ID of the VPC; the private hosted zone is associated with it."
  type        = string
}

variable "subnet_ids" {
  description = "Subnets for the load balancer and the instances, one per availability zone."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 1 && alltrue([for id in var.subnet_ids : can(regex("^subnet-[0-9a-f]+$", id))])
    error_message = "subnet_ids must hold at least one subnet id such as \"subnet-0123456789abcdef0\"."
  }
}

variable "security_group_ids" {
  description = "Security groups of the mail dumpster instances; they must admit TCP 25 from the load balancer (its security groups, or the clients' addresses, since the NLB preserves them)."
  type        = list(string)

  validation {
    condition     = length(var.security_group_ids) >= 1 && alltrue([for id in var.security_group_ids : can(regex("^sg-[0-9a-f]+$", id))])
    error_message = "security_group_ids must hold at least one security group id such as \"sg-0123456789abcdef0\"."
  }
}

variable "lb_security_group_ids" {
  description = "Security groups of the network load balancer (they must admit TCP 25 from the clients). Empty: the load balancer has none. Adding or removing all of them later replaces the load balancer."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for id in var.lb_security_group_ids : can(regex("^sg-[0-9a-f]+$", id))])
    error_message = "lb_security_group_ids must hold security group ids such as \"sg-0123456789abcdef0\"."
  }
}

variable "internal" {
  description = "Whether the network load balancer is internal (only reachable from inside the VPC). The DNS record lives in a private zone either way."
  type        = bool
  default     = true
}

variable "zone_name" {
  description = "Name of the private Route 53 hosted zone created for the VPC, e.g. \"loadstack.internal\"."
  type        = string
  default     = "loadstack.internal"

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", var.zone_name))
    error_message = "zone_name must be a lowercase DNS name without a trailing dot, e.g. \"loadstack.internal\"."
  }
}

variable "record_name" {
  description = "Label of the A (alias) record in the zone: the dumpster answers at <record_name>.<zone_name>."
  type        = string
  default     = "mail-dumpster"

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", var.record_name))
    error_message = "record_name must be a single lowercase DNS label, e.g. \"mail-dumpster\"."
  }
}

variable "instance_type" {
  description = "EC2 instance type of the SMTP sink instances."
  type        = string
  default     = "t3.micro"
}

variable "image_id" {
  description = "AMI id for the instances: a Linux image with dnf, yum or apt-get and systemd. The default is an Amazon Linux 2 id that moto ships; on a real account pass a current AMI of the region (e.g. from SSM /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64)."
  type        = string
  default     = "ami-04681a1dbd79675a5"
}

variable "min_size" {
  description = "Minimum number of instances in the autoscaling group."
  type        = number
  default     = 1
}

variable "max_size" {
  description = "Maximum number of instances in the autoscaling group."
  type        = number
  default     = 1
}

variable "desired_capacity" {
  description = "Number of instances to run; must lie between min_size and max_size."
  type        = number
  default     = 1
}

variable "allowed_client_cidrs" {
  description = "Client networks Postfix accepts mail from (its mynetworks). The NLB preserves client addresses, so these are the senders' own addresses."
  type        = list(string)
  default     = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]

  validation {
    condition     = length(var.allowed_client_cidrs) >= 1 && alltrue([for c in var.allowed_client_cidrs : can(cidrhost(c, 0))])
    error_message = "allowed_client_cidrs must hold at least one valid IPv4 CIDR block."
  }
}

variable "instance_refresh" {
  description = "Roll the instances (instance refresh, 50% kept healthy) when the launch template changes. moto 5.2 does not implement StartInstanceRefresh: set false when updates must apply on moto."
  type        = bool
  default     = true
}

variable "deletion_protection" {
  description = "Enable deletion protection on the load balancer."
  type        = bool
  default     = false
}
