"""Which Celery queue runs which work: infrastructure, the servers a step runs, or load.

A distributed Airflow (CeleryExecutor) has workers that consume named queues, so that Terraform runs
where Terraform and the provider mirror are installed and load generators run where the cores are.
Each step kind declares the class of work its tasks do (`StepBase.work`):

    infra     Terraform applies and destroys, completion handlers, seeding jobs
    services  the servers a step runs as processes on the local profile (MariaDB, redis-server, the app
              behind HAProxy): the task that starts them and the task that stops them must run on the
              same host, because only that host can signal their PIDs
    load      the ramp: its gates, the ramp itself (Locust or a traffic shift), checks and report

`LOADSTACK_QUEUES` maps each class to a queue, e.g. `infra=infra,services=infra,load=load`. A class left
out (or the variable unset, as on one machine) runs on Airflow's default queue. The queue is fixed when
the DAG is parsed: the dag-processor must see the same variable as the workers' operators expect.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

INFRA = "infra"
SERVICES = "services"
LOAD = "load"
WORK_CLASSES: tuple[str, ...] = (INFRA, SERVICES, LOAD)
QUEUES_VARIABLE = "LOADSTACK_QUEUES"
# Celery queue names: no separators of this variable's own syntax, no spaces.
_QUEUE_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-@")


class QueuesError(ValueError):
    """LOADSTACK_QUEUES cannot be read; the message names the entry and the fix."""


@dataclass(frozen=True)
class TaskQueues:
    """The queue of each class of work; a class without one runs on Airflow's default queue."""

    by_work: Mapping[str, str] = field(default_factory=dict)

    def queue_for(self, work: str) -> str | None:
        if work not in WORK_CLASSES:
            raise QueuesError(f"unknown class of work {work!r} (known: {', '.join(WORK_CLASSES)})")
        return self.by_work.get(work)

    @classmethod
    def parse(cls, text: str) -> TaskQueues:
        """`infra=q1,services=q1,load=q2` → TaskQueues; every bad entry is named in one error."""
        by_work: dict[str, str] = {}
        problems: list[str] = []
        for entry in (part.strip() for part in text.split(",")):
            if not entry:
                continue
            work, sep, queue = (s.strip() for s in entry.partition("="))
            if not sep or not queue:
                problems.append(f"{entry!r} is not <work>=<queue> (e.g. load=load)")
            elif work not in WORK_CLASSES:
                problems.append(f"{work!r} is not a class of work: use one of {', '.join(WORK_CLASSES)}")
            elif not set(queue) <= _QUEUE_CHARS:
                problems.append(f"queue {queue!r} of {work}: use letters, digits and _ . - @ only")
            elif work in by_work and by_work[work] != queue:
                problems.append(f"{work} is given twice ({by_work[work]}, {queue}): keep one")
            else:
                by_work[work] = queue
        if problems:
            raise QueuesError(f"{QUEUES_VARIABLE}={text!r}: " + "; ".join(problems))
        return cls(by_work=by_work)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TaskQueues:
        return cls.parse(env.get(QUEUES_VARIABLE, ""))
