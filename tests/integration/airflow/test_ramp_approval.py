"""Approval before stage 3 on a real running Airflow: a human answers Airflow's Required Action through the
HITL REST API while the ramp task holds its traffic at the point.

The DAG is a stack spec rendered by loadstack (the ramp step with `approval:`); only the ramp's traffic is
the simulator's (the DAG file replaces RampOperator.open_rig): the ramp task, its checkpoint in the state
bucket, the approval task (Airflow's ApprovalOperator, deferred on RampPhaseTrigger in the real triggerer,
then awaiting input), the answer through the api-server and the ramp reading it are the real thing.
Two runs: one approved (the ramp goes on and holds), one rejected (the ramp is terminated and fails).
"""

from __future__ import annotations

import time
from urllib.parse import quote

import httpx
import pytest
import yaml

from loadstack.ramp_store import RampStore

pytestmark = pytest.mark.integration

STACK, STEP = "approval_probe", "surge"
RAMP, APPROVAL = f"{STEP}.ramp", f"{STEP}.approve_stage_3"
SPEC = {
    "name": STACK,
    "description": "a ramp with a human's approval before stage 3, on simulated traffic",
    "owner": "sre",
    "schedule": None,
    "steps": {
        STEP: {
            "kind": "ramp",
            "target_url": "http://127.0.0.1:9/",
            "metrics": {"source": "locust", "window_s": 2},
            "target_qps": 200, "threshold_qps": 15, "bucket_qps": 10, "bucket_group": 5,
            "group_interval_s": 2, "bucket_interval_s": 1, "hold_s": 8, "max_staleness_s": 10,
            "no_data_limit_s": 30,
            "abort": [{"metric": "error_ratio", "above": 0.5}],
            "approval": {"before": "stage_3", "timeout_minutes": 5},
        }
    },
}
DAG_FILE = '''
from loadstack.airflow.operators.ramp import RampOperator
from loadstack.airflow.render import build_dag
from loadstack.ramp.clock import SystemClock
from loadstack.ramp.simulator import PlantConfig, SimulatedDriver, SimulatedSource, Simulator
from loadstack.ramp_rig import RampRig
from loadstack.spec import load_stack

PLANT = PlantConfig(seed=3, organic_qps=20.0, organic_swing_qps=0.0, organic_walk_qps=0.0, noise=0.3, window_s=2,
                    settle_s=0.5, knee_qps=5000.0)


def simulated_rig(self, context, resolved):
    sim = Simulator(PLANT, SystemClock())
    return RampRig(driver=SimulatedDriver(sim), source=SimulatedSource(sim))


RampOperator.open_rig = simulated_rig
dag = build_dag(load_stack("{spec}"))
'''


def answer(airflow, run_id: str, option: str, comment: str) -> None:
    """What Browse -> Required Actions does: the HITL REST API, as the logged-in admin."""
    url = f"{airflow.url}/api/v2/dags/{STACK}/dagRuns/{quote(run_id, safe='')}/taskInstances/{APPROVAL}/-1/hitlDetails"
    reply = httpx.patch(url, json={"chosen_options": [option], "params_input": {"comment": comment}},
                        headers={"Authorization": f"Bearer {airflow.token()}"}, timeout=30)
    assert reply.status_code == 200, reply.text


def ramp_state(airflow, run_id: str) -> dict:
    saved = RampStore(airflow.profile, STACK, run_id, STEP).load()
    return (saved or {}).get("state") or {}


def wait_until(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout:.0f} s for {what}")
        time.sleep(0.5)
    return value


@pytest.fixture(scope="module")
def airflow(start_airflow, tmp_path_factory):
    spec = tmp_path_factory.mktemp("spec") / f"{STACK}.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    return start_airflow({STACK: DAG_FILE.replace("{spec}", str(spec))})


def test_an_approved_ramp_goes_on_to_stage_3_and_holds(airflow):
    run_id = airflow.trigger(STACK)
    airflow.wait_for_task(STACK, run_id, APPROVAL, {"awaiting_input"}, timeout=180)
    # The human is asked once the ramp waits at the point, with its traffic held.
    state = ramp_state(airflow, run_id)
    assert state["phase"] == "awaiting_approval" and state["stage"] == 3
    held = state["buckets"]
    time.sleep(3)
    assert ramp_state(airflow, run_id)["buckets"] == held > 0
    assert getattr(airflow.task_instance(STACK, run_id, RAMP).state, "value", None) == "running"

    answer(airflow, run_id, "Approve", "stage 2 is healthy")
    airflow.wait_for_task(STACK, run_id, RAMP, {"success"}, timeout=180)
    airflow.wait_for_task(STACK, run_id, APPROVAL, {"success"}, timeout=60)
    decisions = ramp_state(airflow, run_id)["timeline"]["decisions"]
    approved = next(d for d in decisions if d["action"] == "approved")
    assert approved["reason"] == "approved by admin: stage 2 is healthy: going on to stage 3"
    assert [d["action"] for d in decisions].index("approved") < [d["action"] for d in decisions].index("hold_started")


def test_a_rejected_ramp_is_terminated_and_fails_naming_who_and_why(airflow):
    run_id = airflow.trigger(STACK)
    airflow.wait_for_task(STACK, run_id, APPROVAL, {"awaiting_input"}, timeout=180)
    # As a human would, not within a second: Airflow 3.3.2 races an answer given while the parked task's process
    # is still exiting (the executor then reports that process failed and the resumed try is refused).
    time.sleep(3)
    answer(airflow, run_id, "Reject", "replica lag")
    airflow.wait_for_task(STACK, run_id, RAMP, {"failed"}, timeout=120)
    state = ramp_state(airflow, run_id)
    assert state["phase"] == "terminated" and state["buckets"] == 0
    assert state["end_reason"] == "rejected by admin: replica lag at the approval before stage 3"
    assert "rejected by admin: replica lag" in airflow.log_tail(STACK, run_id, RAMP, 1, lines=80)
