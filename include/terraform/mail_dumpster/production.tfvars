# Production-sized: one sink per zone at least, room to scale out under heavy mail load.
name                = "loadstack-mail"
zone_name           = "loadstack.internal"
instance_type       = "c6i.large"
min_size            = 2
max_size            = 6
desired_capacity    = 3
deletion_protection = false
tags = {
  Project = "loadstack"
  Size    = "production"
}
