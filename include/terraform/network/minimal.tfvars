# Small and cheap: two zones, /24 subnets.
name               = "loadstack-network"
vpc_cidr           = "10.20.0.0/16"
availability_zones = ["us-east-1a", "us-east-1b"]
subnet_newbits     = 8
allowed_cidr       = "0.0.0.0/0"
app_port           = 8000
tags = {
  Project = "loadstack"
  Size    = "minimal"
}
