# Small and cheap: one burstable instance.
name              = "loadstack-app"
app_port          = 8000
health_check_path = "/health"
instance_type     = "t3.micro"
min_size          = 1
max_size          = 1
desired_capacity  = 1
app_env = {
  APP_ENV   = "minimal"
  LOG_LEVEL = "info"
}
tags = {
  Project = "loadstack"
  Size    = "minimal"
}
