"""Deferrable triggers (run in Airflow's triggerer; every constructor argument is a JSON primitive)."""
