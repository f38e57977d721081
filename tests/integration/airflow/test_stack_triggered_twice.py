"""The same stack triggered twice at once: never two applies at the same time.

Two runs of one stack DAG start together, each a `dag.test()` in a process of its own on the test session's
metadata DB (as two workers would run them), so the DAG's `max_active_runs=1` does not keep them apart, just as
it does not for a backfill run next to a manual one. Each run stands the stack up (a real Terraform step on
the moto server) and tears it down (`keep_up` false). The stack lock (loadstack.stack_lock, StackLockSensor) is
what serialises them: the later run's `stack-lock` waits (rescheduled) until the earlier one's `stack-unlock`
gave the lock back, so the two runs' locked spans, and with them their applies and destroys, never overlap.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loadstack.spec import load_stack
from loadstack.stack_lock import StackLock

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests" / "fixtures"
SPEC = FIXTURES / "it_stacks" / "it_twice.yaml"
STACK = "it_twice"
PARAMETER = "/it/twice/param"
# The waiting run's sensor pokes every second (the DAG's default is 30 s, for runs that hold for hours).
POKE_INTERVAL_S = 1

RUN = """
import json, sys
from pathlib import Path
from loadstack.airflow.render import build_dag
from loadstack.spec import load_stack

spec, modules, poke = sys.argv[1], sys.argv[2], float(sys.argv[3])
dag = build_dag(load_stack(Path(spec), modules_dir=Path(modules)))
dag.get_task("stack-lock").poke_interval = poke
run = dag.test(run_conf={"keep_up": False})
print("RESULT " + json.dumps({"run_id": run.run_id, "state": str(getattr(run.state, "value", run.state))}), flush=True)
"""


def stack_dag():
    from loadstack.airflow.render import build_dag

    dag = build_dag(load_stack(SPEC, modules_dir=FIXTURES / "tf_modules"))
    dag.get_task("stack-lock").poke_interval = POKE_INTERVAL_S
    return dag


def serialize(dag) -> None:
    """Write the DAG to the metadata DB once, as the dag processor would (tests/conftest.py, run_dag), before
    the two processes run it."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.collection import update_dag_parsing_results_in_db
    from airflow.serialization.serialized_objects import LazyDeserializedDAG
    from airflow.utils.session import create_session

    with create_session() as session:
        DagBundlesManager().sync_bundles_to_db(session=session)
        session.flush()
        update_dag_parsing_results_in_db("loadstack-test-dags", None, [LazyDeserializedDAG.from_dag(dag)], {}, None,
                                         set(), session=session)


def task_spans(run_id: str) -> dict[str, tuple]:
    """{task_id: (state, start_date, end_date, reschedules)} of one run."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.taskreschedule import TaskReschedule
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(TaskInstance).filter_by(dag_id=STACK, run_id=run_id).all()
        return {
            ti.task_id: (str(getattr(ti.state, "value", ti.state)), ti.start_date, ti.end_date,
                         session.query(TaskReschedule).filter_by(ti_id=ti.id).count())
            for ti in rows
        }


def test_two_runs_of_one_stack_take_turns_and_never_apply_at_once(run_dag, loadstack_env, local_profile, tmp_path):
    ssm = local_profile.client("ssm")
    ssm.delete_parameters(Names=[PARAMETER])
    serialize(stack_dag())  # run_dag (unused otherwise) points Airflow at a bundle of the test's own
    env = {**os.environ, "PYTHONPATH": str(ROOT / "plugins")}
    began = time.monotonic()
    workers = []
    for name in ("first", "second"):
        log = (tmp_path / f"{name}.log").open("w")
        workers.append((name, log, subprocess.Popen(
            [sys.executable, "-c", RUN, str(SPEC), str(FIXTURES / "tf_modules"), str(POKE_INTERVAL_S)],
            stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env)))
    results = {}
    try:
        for name, log, worker in workers:
            worker.wait(timeout=max(1.0, 150 - (time.monotonic() - began)))
            log.close()
            output = (tmp_path / f"{name}.log").read_text()
            found = [line for line in output.splitlines() if line.startswith("RESULT ")]
            assert worker.returncode == 0 and found, f"the {name} dag.test process failed:\n{output[-4000:]}"
            results[name] = json.loads(found[-1].removeprefix("RESULT "))
    finally:
        for _name, log, worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
            log.close()
    took = time.monotonic() - began

    spans = {name: task_spans(result["run_id"]) for name, result in results.items()}
    for name, result in results.items():
        assert result["state"] == "success", (name, spans[name])
    # Whichever took the lock first: the other one's sensor was rescheduled while waiting for it.
    earlier, later = sorted(spans.values(), key=lambda s: s["stack-lock"][2])
    assert earlier["stack-lock"][3] == 0 and later["stack-lock"][3] >= 1, (earlier["stack-lock"], later["stack-lock"])
    # The later run got the lock only once the earlier one gave it back...
    assert later["stack-lock"][2] >= earlier["stack-unlock"][1], (earlier["stack-unlock"], later["stack-lock"])
    # ...so no Terraform of one ran while the other's did: each applied, then destroyed, in turn.
    for task in ("param.apply", "stack-teardown.param.destroy"):
        assert earlier[task][0] == later[task][0] == "success", task
    assert earlier["stack-teardown.param.destroy"][2] <= later["param.apply"][1]
    assert earlier["param.apply"][2] <= later["param.apply"][1]
    assert StackLock(local_profile, STACK).holder() == (None, None)
    assert ssm.get_parameters(Names=[PARAMETER])["Parameters"] == []  # the later run tore it down last
    assert took < 150
