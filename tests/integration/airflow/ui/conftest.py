"""An api-server alone (no scheduler) with the project's plugins folder, for the ramp app's endpoint tests.

The Airflow of tests/integration/airflow/conftest.py with only its api-server: one DAG shaped like a stack with
a ramp step (`ramp_probe`, task `surge.ramp`), serialized before the start. No scheduler: triggering a run
creates its task instances, which is all the task state store needs, and starting one component is cheaper
than four.
"""

from __future__ import annotations

import pytest

STACK = "ramp_probe"
STEP = "surge"
RAMP_TASK = f"{STEP}.ramp"
RAMP_DAG = f'''
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, TaskGroup

with DAG(dag_id="{STACK}", schedule=None):
    with TaskGroup("{STEP}"):
        EmptyOperator(task_id="ramp")
'''


@pytest.fixture(scope="module")
def api_server(start_airflow):
    return start_airflow({STACK: RAMP_DAG}, components=["api-server"])
