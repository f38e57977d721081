"""Driving the Terraform CLI: python-terraform plus the mends it needs for Terraform 1.11."""
