"""Pause, resume or terminate a running ramp, and read its status, through Airflow's REST API.

A ramp task reads its control record from its own task state store at every tick
(`CONTROL_KEY`), and publishes a short status there (`STATUS_KEY`); both are reachable by REST
(`/api/v2/dags/{dag}/dagRuns/{run}/taskInstances/{task}/state-store/{key}`), so this works from any
host that can reach the api-server, and the UI shows both on the task instance's "Task State
Store" tab.
"""

from __future__ import annotations

import getpass
import time
from dataclasses import dataclass
from typing import Any

from loadstack.ramp.control import CONTROL_KEY, STATUS_KEY, ControlRecord, command_after
from loadstack.rest_client.client import AirflowRestClient
from loadstack.rest_client.run import state_of

# The ramp kind's task inside its step's group: `<step>.ramp`.
RAMP_TASK_SUFFIX = ".ramp"


class RampNotFound(LookupError):
    """No ramp task matches (no running run, no ramp step, or several where one is needed)."""


@dataclass(frozen=True)
class RampTask:
    dag_id: str
    run_id: str
    task_id: str
    state: str


def find_ramp(client: AirflowRestClient, stack: str, *, run_id: str | None = None, step: str | None = None) -> RampTask:
    """The ramp task of `stack`'s newest running run (or of `run_id`), of `step` if the stack has several."""
    if run_id is None:
        running = [run for run in client.runs(stack, limit=50) if state_of(run) in ("running", "queued")]
        if not running:
            raise RampNotFound(f"{stack} has no running run: give --run RUN_ID to address a finished one")
        run_id = running[0].dag_run_id
    wanted = f"{step}{RAMP_TASK_SUFFIX}" if step else None
    ramps = [
        ti for ti in client.task_instances(stack, run_id)
        if (ti.task_id == wanted if wanted else ti.task_id.endswith(RAMP_TASK_SUFFIX))
    ]
    if not ramps:
        what = f"task {wanted}" if wanted else f"ramp task (*{RAMP_TASK_SUFFIX})"
        raise RampNotFound(f"run {run_id} of {stack} has no {what}")
    if len(ramps) > 1:
        names = ", ".join(sorted(ti.task_id.removesuffix(RAMP_TASK_SUFFIX) for ti in ramps))
        raise RampNotFound(f"run {run_id} of {stack} has several ramps ({names}): choose one with --step")
    ti = ramps[0]
    return RampTask(stack, run_id, ti.task_id, state_of(ti))


def send_control(client: AirflowRestClient, ramp: RampTask, action: str, *, reason: str = "", by: str | None = None) -> ControlRecord:
    """Write the control record the ramp reads at its next tick; returns what was written (numbered by
    `command_after`, as the UI's buttons number theirs)."""
    current = client.task_state(ramp.dag_id, ramp.run_id, ramp.task_id, CONTROL_KEY)
    status = client.task_state(ramp.dag_id, ramp.run_id, ramp.task_id, STATUS_KEY)
    record = command_after(
        current, status, action,  # type: ignore[arg-type]
        at=time.time(), by=by or getpass.getuser(), reason=reason or f"{action} from the command line",
    )
    client.set_task_state(ramp.dag_id, ramp.run_id, ramp.task_id, CONTROL_KEY, record.to_json())
    return record


def read_status(client: AirflowRestClient, ramp: RampTask) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(the status the ramp published, the control record in force), each None if there is none yet."""
    status = client.task_state(ramp.dag_id, ramp.run_id, ramp.task_id, STATUS_KEY)
    control = client.task_state(ramp.dag_id, ramp.run_id, ramp.task_id, CONTROL_KEY)
    return status, control
