variable "names" {
  description = "Resource names: load_balancer and target_group (AWS allows 32 characters), instances (launch template, autoscaling group and the instances' Name tag), and the Name tags of the target group and listener."
  type = object({
    load_balancer    = string
    target_group     = string
    target_group_tag = string
    listener_tag     = string
    instances        = string
  })

  validation {
    condition     = alltrue([for n in [var.names.load_balancer, var.names.target_group] : can(regex("^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$", n))])
    error_message = "load balancer and target group names must be 1-32 lowercase letters, digits and hyphens, not starting or ending with a hyphen: shorten the name prefix (at most 24 characters)."
  }
}

variable "load_balancer" {
  description = "The load balancer: type (\"application\" or \"network\"), internal, its security groups and deletion protection."
  type = object({
    type                = string
    internal            = bool
    security_group_ids  = list(string)
    deletion_protection = bool
  })

  validation {
    condition     = contains(["application", "network"], var.load_balancer.type)
    error_message = "load_balancer.type must be \"application\" or \"network\"."
  }
}

variable "listener" {
  description = "The load balancer's listener: port and protocol (HTTP for an application, TCP for a network load balancer)."
  type = object({
    port     = number
    protocol = string
  })
}

variable "target_group" {
  description = "Where the listener forwards: the instances' port and protocol, and the health check (path and matcher for HTTP only, null for TCP)."
  type = object({
    port     = number
    protocol = string
    health_check = object({
      protocol            = string
      path                = optional(string)
      matcher             = optional(string)
      interval            = number
      timeout             = optional(number)
      healthy_threshold   = number
      unhealthy_threshold = number
    })
  })
}

variable "vpc_id" {
  description = "ID of the VPC; the target group lives in it."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]+$", var.vpc_id))
    error_message = "vpc_id must be a VPC id such as \"vpc-0123456789abcdef0\"."
  }
}

variable "subnet_ids" {
  description = "Subnets for the load balancer and the instances, one per availability zone."
  type        = list(string)
}

variable "instance_security_group_ids" {
  description = "Security groups of the instances."
  type        = list(string)
}

variable "launch_template_description" {
  description = "Description of the launch template."
  type        = string
}

variable "user_data" {
  description = "The instances' user data script, rendered (the module base64-encodes it)."
  type        = string
}

variable "instance_type" {
  description = "EC2 instance type of the instances."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", var.instance_type))
    error_message = "instance_type must look like an EC2 instance type, e.g. \"t3.micro\"."
  }
}

variable "image_id" {
  description = "AMI id for the instances."
  type        = string

  validation {
    condition     = can(regex("^ami-[0-9a-f]{8,17}$", var.image_id))
    error_message = "image_id must be an AMI id such as \"ami-0123456789abcdef0\"."
  }
}

variable "min_size" {
  description = "Minimum number of instances in the autoscaling group."
  type        = number

  validation {
    condition     = var.min_size >= 0 && floor(var.min_size) == var.min_size
    error_message = "min_size must be a whole number >= 0."
  }
}

variable "max_size" {
  description = "Maximum number of instances in the autoscaling group."
  type        = number

  validation {
    condition     = var.max_size >= 1 && floor(var.max_size) == var.max_size
    error_message = "max_size must be a whole number >= 1."
  }
}

variable "desired_capacity" {
  description = "Number of instances to run; must lie between min_size and max_size."
  type        = number

  validation {
    condition     = var.desired_capacity >= 0 && floor(var.desired_capacity) == var.desired_capacity
    error_message = "desired_capacity must be a whole number >= 0."
  }
}

variable "instance_refresh" {
  description = "Roll the instances (instance refresh, 50% kept healthy) when the launch template changes."
  type        = bool
}

variable "tags" {
  description = "Tags the autoscaling group propagates to the instances it launches (with Name = names.instances)."
  type        = map(string)
  default     = {}
}
