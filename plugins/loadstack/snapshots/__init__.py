"""Snapshots: logical definitions (include/snapshots/*.yaml) and the per-profile catalog."""
