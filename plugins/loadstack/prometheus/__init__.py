"""Prometheus: the local monitoring pipeline (a server loadstack runs) and reading it (HTTP API)."""
