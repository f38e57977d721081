"""The airflow_variable handler, run for real inside Airflow tasks (dag.test() on a SQLite metadata DB)."""

from __future__ import annotations

import json
import uuid

import pendulum
import pytest
from pydantic import ValidationError

from loadstack.airflow.variables import AirflowVariables
from loadstack.handlers import AirflowVariableHandler, HandlerContext, get_handler


def test_registered():
    assert get_handler("airflow_variable") is AirflowVariableHandler


def test_describe(tmp_path):
    from loadstack.profiles import load_profile

    ctx = HandlerContext("shop", "network", load_profile({"LOADSTACK_HOME": str(tmp_path)}))
    handler = AirflowVariableHandler(AirflowVariableHandler.validate_config({"key": "shop_vpc", "value": "v"}), ctx)
    assert handler.describe() == "airflow_variable shop_vpc"


@pytest.mark.parametrize(
    "raw, field",
    [
        ({"key": "k", "value": "v", "serialize_json": True}, "serialize_json"),
        ({"key": "", "value": "v"}, "key"),
        ({"key": "has space", "value": "v"}, "key"),
        ({"key": "k" * 251, "value": "v"}, "key"),
        ({"key": "k"}, "value"),
        ({"key": "k", "value": {1, 2}}, "value"),
    ],
)
def test_config_errors(raw, field):
    with pytest.raises(ValidationError) as info:
        AirflowVariableHandler.validate_config(raw)
    assert field in {str(loc) for err in info.value.errors() for loc in err["loc"]}


def test_publish_inside_a_task(run_dag, tmp_path):
    from airflow.sdk import DAG, task

    from loadstack.profiles import load_profile

    profile = load_profile({"LOADSTACK_HOME": str(tmp_path)})
    key_s, key_j = f"ls_vpc_{uuid.uuid4().hex[:6]}", f"ls_net_{uuid.uuid4().hex[:6]}"
    subnets = {"private": ["subnet-a", "subnet-b"], "az_count": 2}
    results: list[tuple[str, str]] = []  # dag.test() runs tasks in this process

    def publish(key, value, description=None):
        raw = {"key": key, "value": value}
        if description is not None:
            raw["description"] = description
        config = AirflowVariableHandler.validate_config(raw)
        result = AirflowVariableHandler(config, HandlerContext("shop", "network", profile, AirflowVariables())).publish()
        results.append((key, result.value))

    with DAG(f"ls_var_{uuid.uuid4().hex[:8]}", schedule=None, start_date=pendulum.datetime(2024, 1, 1)) as dag:

        @task
        def first():
            publish(key_s, "vpc-1", description="the shop VPC")
            publish(key_s, "vpc-1", description="the shop VPC")
            publish(key_j, subnets)
            publish(key_j, {"az_count": 2, "private": ["subnet-a", "subnet-b"]})  # same value, other order

        @task
        def second():  # a later task (new process state, no cache) sees the stored values
            publish(key_s, "vpc-1")
            publish(key_s, "vpc-2", description="the shop VPC, v2")
            publish(key_j, {**subnets, "az_count": 3})

        first() >> second()

    dagrun = run_dag(dag)
    assert dagrun.state == "success", results

    assert results == [
        (key_s, "created"),
        (key_s, "unchanged"),
        (key_j, "created"),
        (key_j, "unchanged"),
        (key_s, "unchanged"),
        (key_s, "updated"),
        (key_j, "updated"),
    ]
    from airflow.models.variable import Variable as VariableModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = {v.key: v for v in session.query(VariableModel).filter(VariableModel.key.in_([key_s, key_j]))}
        assert rows[key_s].val == "vpc-2"
        assert rows[key_s].description == "the shop VPC, v2"  # a write sets the description it is given
        assert json.loads(rows[key_j].val) == {**subnets, "az_count": 3}
