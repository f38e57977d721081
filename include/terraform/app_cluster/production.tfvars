# Production-sized: compute-optimised instances spread over the zones, room to scale out.
name                = "loadstack-app"
app_port            = 8000
health_check_path   = "/health"
instance_type       = "c6i.xlarge"
min_size            = 3
max_size            = 12
desired_capacity    = 6
deletion_protection = false
app_env = {
  APP_ENV   = "production"
  LOG_LEVEL = "warning"
}
tags = {
  Project = "loadstack"
  Size    = "production"
}
