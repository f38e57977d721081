# Airflow DAG that tears down, every 15 minutes, every stack in the registry past its TTL
# (`loadstack ls` lists the registry; each stack's own <stack>__teardown DAG does the work).
from loadstack.airflow.render.reaper import build_reaper_dag

dag = build_reaper_dag()
