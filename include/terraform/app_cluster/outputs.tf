output "url" {
  description = "Base URL of the application, \"http://<alb dns name>\"."
  value       = "http://${aws_lb.this.dns_name}"
}

output "alb_dns_name" {
  description = "DNS name of the application load balancer."
  value       = aws_lb.this.dns_name
}

output "alb_arn" {
  description = "ARN of the application load balancer."
  value       = aws_lb.this.arn
}

output "alb_zone_id" {
  description = "Route 53 zone id of the load balancer, for alias records."
  value       = aws_lb.this.zone_id
}

output "target_group_arn" {
  description = "ARN of the HTTP target group of the application instances."
  value       = aws_lb_target_group.app.arn
}

output "asg_name" {
  description = "Name of the autoscaling group running the application."
  value       = aws_autoscaling_group.this.name
}

output "launch_template_id" {
  description = "ID of the launch template."
  value       = aws_launch_template.this.id
}
