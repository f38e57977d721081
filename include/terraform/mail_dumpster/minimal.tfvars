# Small and cheap: one burstable instance.
name             = "loadstack-mail"
zone_name        = "loadstack.internal"
instance_type    = "t3.micro"
min_size         = 1
max_size         = 1
desired_capacity = 1
tags = {
  Project = "loadstack"
  Size    = "minimal"
}
