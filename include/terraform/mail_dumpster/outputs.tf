output "mail_dumpster_domain" {
  description = "Fully qualified name of the mail dumpster (SMTP on port 25), e.g. \"mail-dumpster.loadstack.internal\"; resolvable inside the VPC."
  value       = aws_route53_record.mail_dumpster.fqdn
}

output "lb_dns_name" {
  description = "DNS name of the network load balancer."
  value       = module.service.lb_dns_name
}

output "lb_arn" {
  description = "ARN of the network load balancer."
  value       = module.service.lb_arn
}

output "target_group_arn" {
  description = "ARN of the TCP 25 target group."
  value       = module.service.target_group_arn
}

output "asg_name" {
  description = "Name of the autoscaling group running the SMTP sink."
  value       = module.service.asg_name
}

output "zone_id" {
  description = "ID of the private Route 53 hosted zone."
  value       = aws_route53_zone.private.zone_id
}

output "launch_template_id" {
  description = "ID of the launch template."
  value       = module.service.launch_template_id
}
