output "url" {
  description = "Base URL of the application, \"http://<alb dns name>\"."
  value       = "http://${module.service.lb_dns_name}"
}

output "alb_dns_name" {
  description = "DNS name of the application load balancer."
  value       = module.service.lb_dns_name
}

output "alb_arn" {
  description = "ARN of the application load balancer."
  value       = module.service.lb_arn
}

output "alb_zone_id" {
  description = "Route 53 zone id of the load balancer, for alias records."
  value       = module.service.lb_zone_id
}

output "target_group_arn" {
  description = "ARN of the HTTP target group of the application instances."
  value       = module.service.target_group_arn
}

output "asg_name" {
  description = "Name of the autoscaling group running the application."
  value       = module.service.asg_name
}

output "launch_template_id" {
  description = "ID of the launch template."
  value       = module.service.launch_template_id
}
