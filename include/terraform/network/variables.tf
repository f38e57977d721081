variable "name" {
  description = "Prefix for every resource name, e.g. \"shop-network\". Lowercase letters, digits and hyphens."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,22}[a-z0-9])?$", var.name))
    error_message = "name must be 1-24 characters of lowercase letters, digits and hyphens, not starting or ending with a hyphen."
  }
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
  description = "Tags applied to every resource through the provider's default_tags."
  type        = map(string)
  default     = {}
}

variable "vpc_cidr" {
  description = "IPv4 CIDR block of the VPC; the subnets are carved out of it with cidrsubnet()."
  type        = string
  default     = "10.20.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && tonumber(split("/", var.vpc_cidr)[1]) >= 16 && tonumber(split("/", var.vpc_cidr)[1]) <= 24
    error_message = "vpc_cidr must be a valid IPv4 CIDR block with a prefix length between /16 and /24 (the AWS limits for a VPC)."
  }
}

variable "subnet_newbits" {
  description = "Bits added to the VPC prefix for each subnet (cidrsubnet newbits): 8 turns a /16 into /24 subnets."
  type        = number
  default     = 8

  validation {
    condition     = var.subnet_newbits >= 1 && var.subnet_newbits <= 12 && floor(var.subnet_newbits) == var.subnet_newbits
    error_message = "subnet_newbits must be a whole number between 1 and 12."
  }
}

variable "availability_zones" {
  description = "Availability zones, one public subnet in each (at least two, as load balancers require). They must belong to var.region."
  type        = list(string)
  default     = ["us-east-1a", "us-east-1b"]

  validation {
    condition     = length(var.availability_zones) >= 2 && length(distinct(var.availability_zones)) == length(var.availability_zones)
    error_message = "availability_zones must list at least two distinct zones."
  }
}

variable "allowed_cidr" {
  description = "IPv4 CIDR allowed to reach the load balancers (HTTP 80 and SMTP 25)."
  type        = string
  default     = "0.0.0.0/0"

  validation {
    condition     = can(cidrhost(var.allowed_cidr, 0))
    error_message = "allowed_cidr must be a valid IPv4 CIDR block, e.g. \"10.0.0.0/8\"."
  }
}

variable "app_port" {
  description = "TCP port the application instances listen on; the app security group admits it from the lb security group."
  type        = number
  default     = 8000

  validation {
    condition     = var.app_port >= 1 && var.app_port <= 65535 && floor(var.app_port) == var.app_port
    error_message = "app_port must be a whole number between 1 and 65535."
  }
}
