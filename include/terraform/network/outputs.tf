output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr" {
  description = "IPv4 CIDR block of the VPC."
  value       = aws_vpc.this.cidr_block
}

output "subnet_ids" {
  description = "IDs of the public subnets, in the order of var.availability_zones."
  value       = [for az in var.availability_zones : aws_subnet.public[az].id]
}

output "availability_zones" {
  description = "Availability zones of the subnets, in the same order as subnet_ids."
  value       = var.availability_zones
}

output "lb_security_group_id" {
  description = "Security group for load balancers: HTTP 80 and SMTP 25 from var.allowed_cidr."
  value       = aws_security_group.lb.id
}

output "app_security_group_id" {
  description = "Security group for application instances: var.app_port from the lb security group."
  value       = aws_security_group.app.id
}

output "mail_security_group_id" {
  description = "Security group for mail dumpster instances: SMTP 25 from the lb security group."
  value       = aws_security_group.mail.id
}
