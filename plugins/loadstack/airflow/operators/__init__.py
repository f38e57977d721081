"""Airflow operators that run loadstack steps and their completion handlers."""
