# Airflow DAG that checks every live stack's Terraform steps for drift each night (report only; the
# `reapply` Param applies the saved plans). Its builder is loadstack.airflow.render.drift.
from loadstack.airflow.render.dag import stacks_dir
from loadstack.airflow.render.drift import build_drift_dag

dag = build_drift_dag(stacks_dir())
