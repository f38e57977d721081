"""Airflow's REST API (v2) from outside Airflow: log in, trigger a DAG, follow the run, read its logs.

Built on the official client (`apache-airflow-client`, package `airflow_client`), which is not
Airflow itself: this package belongs to the Airflow-free core.

- `client`: the connection (simple auth manager JWT from `POST /auth/token`), the calls loadstack
  needs, paging, one new login when a token is refused, and `RestError`.
- `task_log`: task log records (Airflow 3 writes JSON lines) made readable, with the errors kept.
- `run`: wait for a DAG to be parsed (showing import errors), unpause, trigger, follow task states,
  report failed tasks: the core of `scripts/demo.py` and `loadstack run`.
"""
