"""The ramp page in the Airflow UI: a FastAPI app the api-server mounts, and the page it serves.

`plugin.LoadstackRampPlugin` registers both (plugins/loadstack_ramp_ui.py exposes it to Airflow's plugin
loader). Airflow does not protect plugin apps: every route depends on `auth.ramp_user`.
"""
