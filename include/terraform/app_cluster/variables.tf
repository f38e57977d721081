variable "name" {
  description = "Prefix for every resource name, e.g. \"shop-app\". Lowercase letters, digits and hyphens."
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
  description = "ID of the VPC; the target group lives in it."
  type        = string
}

variable "subnet_ids" {
  description = "Subnets for the load balancer and the instances, one per availability zone (an ALB needs at least two zones)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2 && alltrue([for id in var.subnet_ids : can(regex("^subnet-[0-9a-f]+$", id))])
    error_message = "subnet_ids must hold at least two subnet ids (in different zones) such as \"subnet-0123456789abcdef0\"."
  }
}

variable "lb_security_group_id" {
  description = "Security group of the application load balancer; it must admit HTTP 80 from the clients and may send to the instances on app_port."
  type        = string

  validation {
    condition     = can(regex("^sg-[0-9a-f]+$", var.lb_security_group_id))
    error_message = "lb_security_group_id must be a security group id such as \"sg-0123456789abcdef0\"."
  }
}

variable "app_security_group_id" {
  description = "Security group of the application instances; it must admit app_port from lb_security_group_id."
  type        = string

  validation {
    condition     = can(regex("^sg-[0-9a-f]+$", var.app_security_group_id))
    error_message = "app_security_group_id must be a security group id such as \"sg-0123456789abcdef0\"."
  }
}

variable "internal" {
  description = "Whether the application load balancer is internal (reachable only from inside the VPC) instead of internet-facing."
  type        = bool
  default     = false
}

variable "app_port" {
  description = "TCP port the application listens on; also passed to the app as PORT and APP_PORT."
  type        = number
  default     = 8000

  validation {
    condition     = var.app_port >= 1 && var.app_port <= 65535 && floor(var.app_port) == var.app_port
    error_message = "app_port must be a whole number between 1 and 65535."
  }
}

variable "health_check_path" {
  description = "HTTP path the target group probes; a healthy instance answers it with 200. shopapp answers /health (200 while its database and Redis answer, else 503)."
  type        = string
  default     = "/health"

  validation {
    condition     = can(regex("^/[^\\s]*$", var.health_check_path)) && length(var.health_check_path) <= 1024
    error_message = "health_check_path must start with \"/\", contain no whitespace and be at most 1024 characters."
  }
}

variable "instance_type" {
  description = "EC2 instance type of the application instances."
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

variable "app_env" {
  description = "Environment of the application: written to /etc/loadstack-app/app.env (systemd EnvironmentFile) by user_data. PORT, APP_PORT and HEALTH_CHECK_PATH are set by the module and win over the same keys here. Visible in the launch template: put no secrets here."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.app_env) : can(regex("^[A-Za-z_][A-Za-z0-9_]*$", k))])
    error_message = "app_env keys must be environment variable names: letters, digits and underscores, not starting with a digit."
  }

  validation {
    condition     = alltrue([for v in values(var.app_env) : !can(regex("[\\r\\n\\x00]", v))])
    error_message = "app_env values must be single-line (no newline, carriage return or NUL)."
  }
}

variable "app_command" {
  description = "Shell command that starts the application in the foreground (run by systemd as user \"app\" with app_env in its environment, e.g. \"/opt/app/bin/serve\"). Wins over app_artifact. Empty: the application under test from app_artifact, or without one a placeholder HTTP server that answers 200 on every path, so the target group turns healthy before the real app is deployed."
  type        = string
  default     = ""
}

variable "app_artifact" {
  description = "The application under test (shopapp) to install and run when app_command is empty: the project's artifact made by app/pack.sh, a .tar.gz of shopapp/ and requirements.txt. url: s3://bucket/key (copied with the instance's role through the AWS CLI) or https://...; sha256: its SHA-256 (hex), checked before anything is installed. null: no shopapp (app_command or the placeholder)."
  type = object({
    url    = string
    sha256 = string
  })
  default = null

  validation {
    condition = var.app_artifact == null || (
      can(regex("^(s3|https)://[^\\s'\"$`\\\\]+$", try(var.app_artifact.url, ""))) &&
      can(regex("^[0-9a-f]{64}$", try(var.app_artifact.sha256, "")))
    )
    error_message = "app_artifact needs url = \"s3://bucket/key\" or \"https://...\" (no spaces, quotes, $, ` or backslashes) and sha256 = the artifact's SHA-256 in 64 lowercase hex digits (app/pack.sh prints both)."
  }
}

variable "instance_refresh" {
  description = "Roll the instances (instance refresh, 50% kept healthy) when the launch template changes. moto 5.2 does not implement StartInstanceRefresh: set false when updates must apply on moto."
  type        = bool
  default     = true
}

variable "deletion_protection" {
  description = "Enable deletion protection on the application load balancer."
  type        = bool
  default     = false
}
