"""HAProxy, run by loadstack as the local load balancer: its config, the process, and its runtime API."""
