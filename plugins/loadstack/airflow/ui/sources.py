"""Where the ramp app reads and writes: the checkpoint in the state bucket, the task state store, the TI.

`RampSources` is what the routes need; `AirflowRampSources` is the api-server's: the checkpoint through
loadstack.ramp_store with the tasks' own profile, the control record and status through the configured
task state backend (the one the running ramp reads through the execution API), and the task instance's
state from the metadata database.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

from airflow.configuration import conf
from airflow.models.taskinstance import TaskInstance
from airflow.state import TaskScope, get_state_backend
from airflow.utils.session import create_session
from sqlalchemy import select

from loadstack.airflow.profile import task_profile
from loadstack.profiles import Profile
from loadstack.ramp_store import RampStore

# Ramp tasks are never mapped.
MAP_INDEX = -1


class NoTaskInstance(LookupError):
    """No task instance matches the DAG, run and task given."""


class RampSources(ABC):
    @abstractmethod
    def task_instance_state(self, dag_id: str, run_id: str, task_id: str) -> str | None:
        """The task instance's state (None: not scheduled yet); NoTaskInstance when there is no such one."""

    @abstractmethod
    def checkpoint(self, dag_id: str, run_id: str, step: str) -> tuple[str, dict[str, Any] | None]:
        """(where the ramp checkpoints, its last checkpoint or None). The stack's name is its DAG id."""

    @abstractmethod
    def task_state(self, dag_id: str, run_id: str, task_id: str, key: str) -> Any:
        """The JSON value under `key` in the task instance's state store, None if there is none."""

    @abstractmethod
    def set_task_state(self, dag_id: str, run_id: str, task_id: str, key: str, value: Any) -> None:
        """Create or overwrite `key`, kept for the configured retention (as a REST API write is)."""


class AirflowRampSources(RampSources):
    @cached_property
    def profile(self) -> Profile:
        # Built on first use, not at import: the plugin loads in every Airflow process.
        return task_profile()

    def task_instance_state(self, dag_id: str, run_id: str, task_id: str) -> str | None:
        with create_session() as session:
            found = session.execute(
                select(TaskInstance.state).where(
                    TaskInstance.dag_id == dag_id,
                    TaskInstance.run_id == run_id,
                    TaskInstance.task_id == task_id,
                    TaskInstance.map_index == MAP_INDEX,
                )
            ).one_or_none()
        if found is None:
            raise NoTaskInstance(f"no task instance {task_id!r} in run {run_id!r} of DAG {dag_id!r}")
        return None if found.state is None else str(found.state)

    def checkpoint(self, dag_id: str, run_id: str, step: str) -> tuple[str, dict[str, Any] | None]:
        store = RampStore(self.profile, dag_id, run_id, step)
        return store.location, store.load()

    def task_state(self, dag_id: str, run_id: str, task_id: str, key: str) -> Any:
        raw = get_state_backend().get(_scope(dag_id, run_id, task_id), key)
        return None if raw is None else json.loads(raw)

    def set_task_state(self, dag_id: str, run_id: str, task_id: str, key: str, value: Any) -> None:
        days = conf.getint("state_store", "default_retention_days")
        expires_at = datetime.now(tz=UTC) + timedelta(days=days) if days > 0 else None
        get_state_backend().set(_scope(dag_id, run_id, task_id), key, json.dumps(value), expires_at=expires_at)


def _scope(dag_id: str, run_id: str, task_id: str) -> TaskScope:
    return TaskScope(dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=MAP_INDEX)
