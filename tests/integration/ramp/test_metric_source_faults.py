"""Injected fault in a ramp's metric source, against the real components (issue "hardening", point 2).

The ramp step runs through Airflow (dag.test) on a local stack (MariaDB, Redis, the app behind HAProxy,
its Prometheus, Locust). Once the ramp holds its band, the stack's Prometheus is killed (SIGKILL): the
controller must not step on data it no longer has. It holds the traffic while no sample comes, and once
no usable sample has come for no_data_limit_s it aborts, drains the traffic (over abort_drain_s) and the
task fails, once (an abort is not retried), naming the missing data and the limit; no load generator
is left running.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from loadstack.ramp_store import RampStore

pytestmark = pytest.mark.integration
STACK = "it_blind"
NO_DATA_LIMIT_S = 20  # tests/fixtures/it_stacks/it_blind.yaml
ABORT_DRAIN_S = 6
TICK_S = 1.0


def task_instances(run) -> dict:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = session.query(TaskInstance).filter_by(dag_id=run.dag_id, run_id=run.run_id).all()
        return {ti.task_id: (ti.state, ti.try_number, ti.end_date) for ti in tis}


def locust_processes() -> list[int]:
    """This session's Locust processes (their command lines name its LOADSTACK_HOME)."""
    home = os.environ["LOADSTACK_HOME"].encode()
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if any(b"locust" in part for part in cmdline[:3]) and any(home in p for p in cmdline):
                found.append(int(proc.name))
    return found


def watch(store: RampStore, until, action, timeout: float = 600.0) -> threading.Thread:
    """In the background: poll the ramp's checkpoint until `until(state)` holds, then call `action(state)`."""

    def run() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            saved = store.load()
            if saved is not None and until(saved["state"]):
                action(saved["state"])
                return
            time.sleep(0.25)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def blind_dag(stack_dag):
    return stack_dag(STACK)


def test_prometheus_killed_during_the_hold_holds_the_traffic_then_drains_and_fails_the_task(
    blind_dag, run_dag, local_profile, capfd
):
    from airflow.utils.state import DagRunState, TaskInstanceState

    from loadstack.appservice.local import LocalAppService
    from loadstack.prometheus.server import PrometheusServer
    from loadstack.supervisor import pid_alive

    logical_date = datetime.now(timezone.utc)
    run_id = f"manual__{logical_date.isoformat()}"
    store = RampStore(local_profile, STACK, run_id, "surge")
    prometheus = PrometheusServer(LocalAppService(local_profile, STACK, "app").base_dir / "prometheus")
    killed: dict = {}

    def kill_prometheus(state: dict) -> None:
        pid = prometheus.pid()
        assert pid is not None, "the stack's Prometheus is not running"
        os.kill(pid, signal.SIGKILL)
        killed.update(pid=pid, at=time.time(), stage=state["stage"])

    watcher = watch(store, lambda state: state["phase"] == "holding", kill_prometheus)
    run = run_dag(blind_dag, logical_date=logical_date, run_after=logical_date)
    watcher.join(timeout=5)
    assert run.run_id == run_id and killed, "Prometheus was never killed: the ramp did not reach its hold"
    kill_at = killed["at"]
    assert not pid_alive(killed["pid"]) and not prometheus.is_running()

    # The task's failure names the missing data, the limit, and why the source gave nothing.
    out, err = capfd.readouterr()
    failures = re.findall(r"AirflowFailException: (ramp aborted at stage \d+: .*)", out + err)
    assert failures, "no AirflowFailException from the ramp task in the run's log"
    message = failures[0]
    assert "no usable sample" in message and f"no_data_limit_s is {NO_DATA_LIMIT_S} s" in message, message
    assert re.search(r"Prometheus at http://127\.0\.0\.1:\d+ did not answer qps: ConnectError", message), message

    # The task failed once (an abort is not retried); what comes after the ramp did not need its success.
    assert run.state == DagRunState.FAILED
    tis = task_instances(run)
    assert tis["surge.ramp"][:2] == (TaskInstanceState.FAILED, 1), tis
    assert tis["surge.checks"][0] == TaskInstanceState.UPSTREAM_FAILED
    assert locust_processes() == []

    state = store.load()["state"]
    decisions = state["timeline"]["decisions"]
    before = [d for d in decisions if d["at"] < kill_at]
    after = [d for d in decisions if d["at"] >= kill_at]
    assert any(d["action"] == "hold_started" for d in before)
    buckets_at_kill = before[-1]["buckets_after"]
    assert buckets_at_kill > 0

    # Nothing was measured after the kill: no sample taken from then on.
    assert not [s for s in state["timeline"]["samples"] if s["taken_at"] >= kill_at + TICK_S]

    # Held: until the abort only waits for data, the traffic where the kill found it, no step.
    abort_index = next(i for i, d in enumerate(after) if d["action"] == "abort")
    held, abort, ending = after[:abort_index], after[abort_index], after[abort_index + 1 :]
    assert held and all(d["action"] == "wait" for d in held), [(d["action"], d["reason"]) for d in held]
    assert all(d["buckets_before"] == d["buckets_after"] == buckets_at_kill for d in held)
    assert any(d["reason"].startswith("no data: the source returned no sample") for d in held), held
    assert not any(d["action"] in ("step_up", "step_down", "stage_reached") for d in after)

    # Aborted once no_data_limit_s had passed without a usable sample, naming the missing data and the limit.
    waited = abort["at"] - kill_at
    assert NO_DATA_LIMIT_S - TICK_S <= waited <= NO_DATA_LIMIT_S + 5, (waited, abort)
    assert abort["buckets_before"] == buckets_at_kill
    assert "no usable sample" in abort["reason"] and "no sample" in abort["reason"], abort["reason"]
    assert f"no_data_limit_s is {NO_DATA_LIMIT_S} s" in abort["reason"], abort["reason"]
    assert abort["thresholds"]["no_data_limit_s"] == NO_DATA_LIMIT_S
    assert state["phase"] == "aborted" and state["end_reason"].startswith("no usable sample"), state["end_reason"]

    # Drained: down in steps over abort_drain_s, then to 0; the task ended soon after.
    assert [d["action"] for d in ending][-1] == "drain" and ending[-1]["buckets_after"] == 0, ending
    assert all(d["action"] == "drain_step" for d in ending[:-1])
    steps = [d["buckets_after"] for d in ending]
    assert steps == sorted(steps, reverse=True)
    drained_in = ending[-1]["at"] - abort["at"]
    assert ABORT_DRAIN_S - TICK_S <= drained_in <= ABORT_DRAIN_S + 3, (drained_in, ending)
    assert state["buckets"] == 0
    ended_in = tis["surge.ramp"][2].timestamp() - kill_at
    assert ended_in <= NO_DATA_LIMIT_S + ABORT_DRAIN_S + 15, ended_in
    with capfd.disabled():
        print(
            f"\nPrometheus killed at stage {killed['stage']} holding {buckets_at_kill} buckets; "
            f"{len(held)} no-data wait(s); abort {waited:.1f} s after the kill, drained {drained_in:.1f} s later "
            f"in {len(ending) - 1} step(s); task ended {ended_in:.1f} s after the kill.\nFailure: {message}"
        )
