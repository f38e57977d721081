output "lb_dns_name" {
  description = "DNS name of the load balancer."
  value       = aws_lb.this.dns_name
}

output "lb_arn" {
  description = "ARN of the load balancer."
  value       = aws_lb.this.arn
}

output "lb_zone_id" {
  description = "Route 53 zone id of the load balancer, for alias records."
  value       = aws_lb.this.zone_id
}

output "target_group_arn" {
  description = "ARN of the target group the instances are registered in."
  value       = aws_lb_target_group.this.arn
}

output "asg_name" {
  description = "Name of the autoscaling group."
  value       = aws_autoscaling_group.this.name
}

output "launch_template_id" {
  description = "ID of the launch template."
  value       = aws_launch_template.this.id
}
