"""Metric sources a ramp reads traffic and health from: each returns timestamped `Sample`s."""
