"""The host running a ramp dies mid-ramp and its scheduler comes back, on a real running Airflow with real Locust.

The DAG is a stack spec rendered by loadstack: one ramp step, its load a Locust master and worker the ramp task
starts (include/locust/shop.py), its target the stand-in app of tests/integration/locust (it counts arrivals),
its metrics read from the master. Once the ramp is past its first stage, the scheduler is SIGKILLed with every
process it started (the LocalExecutor's workers, the task's supervisor, the ramp task: no drain, no `finally`,
no on_kill) but the load generator, which in a real deployment runs on hosts of its own. Then:

- the load stops within the rate lease (20 s): the master, unrenewed, drops to 0 and quits with its worker;
- the scheduler, started again, finds the task's heartbeat gone (timeout 15 s here, 5 minutes by default),
  fails that try and retries it (the stack's `retries: 1`);
- the retry resumes from the checkpoint in the state bucket at the stage reached, holds its band and the run
  succeeds; no Locust process is left.
"""

from __future__ import annotations

import time

import pytest
import standin
import yaml

from loadstack.locust.driver import LEASE_S
from loadstack.ramp_store import RampStore

pytestmark = [pytest.mark.integration, pytest.mark.long]


STACK, STEP = "it_host_lost", "surge"
RAMP = f"{STEP}.ramp"
HEARTBEAT_TIMEOUT_S = 15
# Beyond the lease: the master's lease check, its shape tick, requests under way, a loaded 2-core machine.
MARGIN_S = 10.0
DAG_FILE = '''
from loadstack.airflow.render import build_dag
from loadstack.spec import load_stack

dag = build_dag(load_stack("{spec}"))
'''


def spec(target_url: str) -> dict:
    return {
        "name": STACK,
        "description": "a ramp on real Locust whose host dies mid-ramp",
        "owner": "sre-test",
        "retries": 1,
        "steps": {
            STEP: {
                "kind": "ramp",
                "target_url": target_url,
                "load": {"locustfile": "include/locust/shop.py", "workers": 1},
                "metrics": {"source": "locust", "window_s": 4},
                "target_qps": 40, "threshold_qps": 6, "bucket_qps": 3, "bucket_group": 10,
                "group_interval_s": 3, "bucket_interval_s": 3, "hold_s": 15, "max_staleness_s": 15,
                "no_data_limit_s": 40,
                "abort": [{"metric": "error_ratio", "above": 0.5}],
            }
        },
    }


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    with standin.started_standin(tmp_path_factory.mktemp("target")) as found:
        yield found


@pytest.fixture(scope="module")
def airflow(start_airflow, target, tmp_path_factory):
    spec_path = tmp_path_factory.mktemp("spec") / f"{STACK}.yaml"
    spec_path.write_text(yaml.safe_dump(spec(target.url)))
    return start_airflow({STACK: DAG_FILE.replace("{spec}", str(spec_path))}, settings={
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT_S),
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
    })


def test_a_ramp_whose_host_dies_stops_its_load_then_resumes_on_the_retry_and_holds(airflow, target, wait_for):
    run_id = airflow.trigger(STACK)
    store = RampStore(airflow.profile, STACK, run_id, STEP)
    ramps = airflow.profile.work_dir / "ramps"

    def past_first_stage():
        saved = store.load()
        return saved if saved and saved["state"]["stage"] >= 2 and target.arrived(time.time() - 2) > 10 else None

    at_kill = wait_for(past_first_stage, 240, "the ramp past its first stage, its load arriving")["state"]
    first_try = [d for d in ramps.iterdir() if d.name.startswith(f"{STACK}-{STEP}-") and d.name.endswith("-1")]
    assert len(first_try) == 1, list(ramps.iterdir())
    assert len(standin.locust_pids(first_try[0])) == 2  # the master and its worker

    # The load generator outlives the task (on its own hosts in a real deployment; detached here).
    generator = standin.locust_pids(first_try[0])
    killed = airflow.crash("scheduler", spare=generator)
    killed_at = time.time()
    assert len(killed) >= 3, killed  # the scheduler, its executor's workers, the task's supervisor and process
    assert sorted(standin.locust_pids(first_try[0])) == sorted(generator)
    assert target.arrived(killed_at - 2) > 10  # nobody stopped the load: it went on after the kill

    # The lease runs out at most LEASE_S after the kill: the load stops, and the master quits with its worker.
    quiet_from = standin.last_arrival_gap(target, quiet_s=3.0, timeout=LEASE_S + MARGIN_S)
    assert quiet_from - killed_at <= LEASE_S + MARGIN_S
    wait_for(lambda: standin.locust_pids(first_try[0]) == [], 15, "the first try's Locust to quit")
    assert "rate lease expired" in (first_try[0] / "master.log").read_text()

    airflow.restart("scheduler")
    run = airflow.wait_for_run(STACK, run_id, ["success", "failed"], timeout=420)
    ramp = airflow.task_instance(STACK, run_id, RAMP)
    assert (str(getattr(run.state, "value", run.state)), ramp.try_number) == ("success", 2), \
        airflow.log_tail(STACK, run_id, RAMP, ramp.try_number)

    decisions = store.load()["state"]["timeline"]["decisions"]
    starts = [d for d in decisions if d["action"] == "start"]
    assert len(starts) == 2 and starts[1]["stage"] >= at_kill["stage"], starts
    assert any(d["action"] == "hold_started" for d in decisions)
    assert [d for d in ramps.iterdir() if standin.locust_pids(d)] == []
