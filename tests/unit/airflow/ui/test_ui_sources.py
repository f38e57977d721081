"""loadstack.airflow.ui.sources.AirflowRampSources on a real metadata DB (dag.test) and moto's in-process S3:
the app reads what a ramp task writes to its task state store, and the task reads what the app writes."""

from __future__ import annotations

import re
import uuid

import pendulum
import pytest
from airflow.sdk import DAG, TaskGroup, task

from loadstack.airflow.ui.sources import AirflowRampSources, NoTaskInstance
from loadstack.ramp.control import CONTROL_KEY, STATUS_KEY
from loadstack.ramp_store import RampStore


def test_task_state_store_task_instance_and_checkpoint(run_dag, s3_profile):
    sources = AirflowRampSources()
    sources.profile = s3_profile  # the tasks' profile, here on moto's in-process S3
    dag_id = f"ls_ui_{uuid.uuid4().hex[:8]}"
    seen: dict[str, object] = {}

    with DAG(dag_id, schedule=None, start_date=pendulum.datetime(2024, 1, 1)) as dag:
        with TaskGroup("surge"):

            @task(task_id="ramp")
            def ramp(**context):
                store = context["task_state_store"]
                store.set(STATUS_KEY, {"phase": "holding", "applied_control_seq": 2})
                where = (context["dag"].dag_id, context["run_id"], context["ti"].task_id)
                seen["running"] = sources.task_instance_state(*where)
                # The app writes the control record as the UI's Pause button does; the task reads it.
                sources.set_task_state(*where, CONTROL_KEY, {"action": "pause", "seq": 3, "at": 1.0, "by": "ana"})
                seen["control"] = store.get(CONTROL_KEY)
                seen["run_id"] = context["run_id"]

            ramp()

    assert run_dag(dag).state == "success", seen
    run_id = seen["run_id"]
    assert seen["running"] == "running"
    assert seen["control"] == {"action": "pause", "seq": 3, "at": 1.0, "by": "ana"}
    assert sources.task_state(dag_id, run_id, "surge.ramp", STATUS_KEY) == {"phase": "holding", "applied_control_seq": 2}
    assert sources.task_state(dag_id, run_id, "surge.ramp", "nothing") is None
    assert sources.task_instance_state(dag_id, run_id, "surge.ramp") == "success"
    with pytest.raises(NoTaskInstance, match=re.escape(f"no task instance 'surge.report' in run '{run_id}' of DAG '{dag_id}'")):
        sources.task_instance_state(dag_id, run_id, "surge.report")

    location, checkpoint = sources.checkpoint(dag_id, run_id, "surge")
    assert checkpoint is None and location == f"s3://state/ramps/{dag_id}/{run_id}/surge/state.json"
    RampStore(s3_profile, dag_id, run_id, "surge").save({"state": {"phase": "done"}})
    assert sources.checkpoint(dag_id, run_id, "surge") == (location, {"state": {"phase": "done"}})
