# Production-sized: three zones, /20 subnets (4091 addresses each) for large fleets.
name               = "loadstack-network"
vpc_cidr           = "10.40.0.0/16"
availability_zones = ["us-east-1a", "us-east-1b", "us-east-1c"]
subnet_newbits     = 4
allowed_cidr       = "0.0.0.0/0"
app_port           = 8000
tags = {
  Project = "loadstack"
  Size    = "production"
}
