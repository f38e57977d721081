"""Deferrable waits for the data tier, built on the Amazon provider's AwsBaseWaiterTrigger.

What comes from the provider: serialization of the common arguments, the hook built from them
(RdsHook, ElastiCacheReplicationGroupHook), ``hook.get_waiter`` (botocore's official waiters
``db_cluster_available``, ``db_instance_available``, ``replication_group_available``) and
``async_wait``, which polls once per ``waiter_delay`` and logs the status between attempts.

What is added here:
- ``endpoint_url``: a serialized argument that points the hook at another endpoint (moto in the
  local profile) without an Airflow connection. Credentials still come from ``aws_conn_id`` or, with
  ``aws_conn_id=None``, from boto3's default chain (AWS_ACCESS_KEY_ID, ... in the triggerer's env).
- waits in phases: `RdsClusterAvailableTrigger` waits for the cluster and then for its instances;
  the phases share one budget of ``waiter_max_attempts``.
- ``resume_at``: the phase of the deferring job to resume at (`loadstack.waits.Wait.phase`), serialized
  with the trigger and echoed in every event it emits, so that a job of several waits resumes in the
  right place even where the kwargs given to ``defer()`` are dropped (``dag.test()``).
- no hard dependency on aiobotocore: the provider's triggers need it (``hook.get_async_conn()``),
  and aiobotocore 3.x pins botocore below the 1.44 this project uses. When it is not installed,
  each waiter attempt runs the synchronous boto3 waiter in a worker thread, so the triggerer's
  event loop is never blocked; with aiobotocore the provider's async client is used as is.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from airflow.exceptions import AirflowException
from airflow.providers.amazon.aws.hooks.base_aws import AwsGenericHook
from airflow.providers.amazon.aws.hooks.elasticache_replication_group import (
    ElastiCacheReplicationGroupHook,
)
from airflow.providers.amazon.aws.hooks.rds import RdsHook
from airflow.providers.amazon.aws.triggers.base import AwsBaseWaiterTrigger
from airflow.providers.amazon.aws.utils.waiter_with_logging import async_wait
from airflow.triggers.base import TriggerEvent


def aiobotocore_available() -> bool:
    return importlib.util.find_spec("aiobotocore") is not None


@dataclass(frozen=True)
class WaitPhase:
    """One waiter to satisfy: its name, arguments and how to report its progress."""

    waiter_name: str
    waiter_args: dict[str, Any]
    failure_message: str
    status_message: str
    status_queries: list[str] = field(default_factory=list)


class _ThreadedWaiter:
    """An async facade over a synchronous botocore waiter: each attempt runs in a worker thread."""

    def __init__(self, waiter: Any):
        self._waiter = waiter

    async def wait(self, **kwargs: Any) -> None:
        await asyncio.to_thread(self._waiter.wait, **kwargs)


class _CountingWaiter:
    """Counts attempts, so that several phases can share one `waiter_max_attempts` budget."""

    def __init__(self, waiter: Any):
        self._waiter = waiter
        self.attempts = 0

    async def wait(self, **kwargs: Any) -> None:
        self.attempts += 1
        await self._waiter.wait(**kwargs)


class PhasedAwsWaiterTrigger(AwsBaseWaiterTrigger):
    """AwsBaseWaiterTrigger with an `endpoint_url`, several waiter phases and a thread fallback.

    Subclasses set ``aws_hook_class`` and pass ``endpoint_url`` in ``serialized_fields``; they
    override `phases()` to wait for more than the one waiter given to ``__init__``.
    """

    def __init__(self, *, endpoint_url: str | None = None, resume_at: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.endpoint_url = endpoint_url
        self.resume_at = resume_at

    def _wait_until_available(
        self, key: str, resource_id: str, noun: str, waiter_name: str, waiter_args: dict[str, Any],
        status_queries: list[str], *, endpoint_url: str | None, resume_at: str | None, **common: Any,
    ) -> None:
        """The common case: one resource, named by `key` in the serialized kwargs and in the event."""
        PhasedAwsWaiterTrigger.__init__(
            self,
            serialized_fields={key: resource_id, "endpoint_url": endpoint_url, "resume_at": resume_at},
            waiter_name=waiter_name,
            waiter_args=waiter_args,
            failure_message=f"{noun} {resource_id} did not become available",
            status_message=f"{noun} {resource_id} not available yet",
            status_queries=status_queries,
            return_key=key,
            return_value=resource_id,
            endpoint_url=endpoint_url,
            resume_at=resume_at,
            **common,
        )

    def _with_resume_at(self, payload: dict[str, Any]) -> dict[str, Any]:
        return payload if self.resume_at is None else {**payload, "resume_at": self.resume_at}

    def _event_from_exception(self, error: AirflowException) -> TriggerEvent:
        return TriggerEvent(self._with_resume_at(super()._event_from_exception(error).payload))

    def phases(self) -> list[WaitPhase]:
        return [
            WaitPhase(self.waiter_name, self.waiter_args, self.failure_message, self.status_message, self.status_queries)
        ]

    def hook(self) -> AwsGenericHook:
        hook = super().hook()
        if self.endpoint_url:
            # The connection wrapper is where the hook looks up its endpoint for every client.
            hook.conn_config.endpoint_url = self.endpoint_url
        return hook

    @asynccontextmanager
    async def _waiter_factory(self, hook: AwsGenericHook) -> AsyncIterator[Callable[[str], Any]]:
        overrides = self.waiter_config_overrides
        if aiobotocore_available():
            async with await hook.get_async_conn() as client:
                yield lambda name: hook.get_waiter(name, deferrable=True, client=client, config_overrides=overrides)
        else:
            client = await asyncio.to_thread(lambda: hook.conn)
            yield lambda name: _ThreadedWaiter(hook.get_waiter(name, client=client, config_overrides=overrides))

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = await asyncio.to_thread(self.hook)
        remaining = self.attempts
        try:
            async with self._waiter_factory(hook) as get_waiter:
                for phase in self.phases():
                    waiter = _CountingWaiter(get_waiter(phase.waiter_name))
                    await async_wait(
                        waiter,
                        self.waiter_delay,
                        remaining,
                        phase.waiter_args,
                        phase.failure_message,
                        phase.status_message,
                        phase.status_queries,
                    )
                    remaining = max(1, remaining - waiter.attempts)
        except AirflowException as error:
            yield self._event_from_exception(error)
            return
        yield TriggerEvent(self._with_resume_at({"status": "success", self.return_key: self.return_value}))


class RdsClusterAvailableTrigger(PhasedAwsWaiterTrigger):
    """Wait until an Aurora DB cluster is available, and then all of its instances (at least one).

    Emits ``{"status": "success", "cluster_id": ...}`` or ``{"status": "error", "message": ...,
    "cluster_id": ...}`` (a cluster or instance in a failed or deleting state, an unknown cluster,
    or `waiter_max_attempts` polls spent over both phases), with ``resume_at`` when one is given.
    """

    aws_hook_class = RdsHook

    def __init__(
        self,
        cluster_id: str,
        region_name: str | None = None,
        aws_conn_id: str | None = "aws_default",
        endpoint_url: str | None = None,
        resume_at: str | None = None,
        waiter_delay: int = 30,
        waiter_max_attempts: int = 120,
        verify: bool | str | None = None,
        botocore_config: dict | None = None,
    ) -> None:
        self._wait_until_available(
            "cluster_id", cluster_id, "DB cluster", "db_cluster_available", {"DBClusterIdentifier": cluster_id},
            ["DBClusters[].Status"],
            endpoint_url=endpoint_url, resume_at=resume_at, region_name=region_name, aws_conn_id=aws_conn_id,
            waiter_delay=waiter_delay, waiter_max_attempts=waiter_max_attempts, verify=verify,
            botocore_config=botocore_config,
        )
        self.cluster_id = cluster_id

    def phases(self) -> list[WaitPhase]:
        return [
            *super().phases(),
            WaitPhase(
                "db_instance_available",
                # No instance yet matches no acceptor of botocore's waiter: it keeps polling.
                {"Filters": [{"Name": "db-cluster-id", "Values": [self.cluster_id]}]},
                f"DB instances of cluster {self.cluster_id} did not become available",
                f"DB instances of cluster {self.cluster_id} not available yet",
                ["DBInstances[].DBInstanceIdentifier", "DBInstances[].DBInstanceStatus"],
            ),
        ]


class ElastiCacheReplicationGroupAvailableTrigger(PhasedAwsWaiterTrigger):
    """Wait until an ElastiCache replication group is available (botocore's waiter).

    Emits ``{"status": "success", "group_id": ...}`` or ``{"status": "error", "message": ...,
    "group_id": ...}``, with ``resume_at`` when one is given.
    """

    aws_hook_class = ElastiCacheReplicationGroupHook

    def __init__(
        self,
        group_id: str,
        region_name: str | None = None,
        aws_conn_id: str | None = "aws_default",
        endpoint_url: str | None = None,
        resume_at: str | None = None,
        waiter_delay: int = 15,
        waiter_max_attempts: int = 120,
        verify: bool | str | None = None,
        botocore_config: dict | None = None,
    ) -> None:
        self._wait_until_available(
            "group_id", group_id, "replication group", "replication_group_available", {"ReplicationGroupId": group_id},
            ["ReplicationGroups[].Status"],
            endpoint_url=endpoint_url, resume_at=resume_at, region_name=region_name, aws_conn_id=aws_conn_id,
            waiter_delay=waiter_delay, waiter_max_attempts=waiter_max_attempts, verify=verify,
            botocore_config=botocore_config,
        )
        self.group_id = group_id


class RdsClusterSnapshotAvailableTrigger(PhasedAwsWaiterTrigger):
    """Wait until a DB cluster snapshot is available (botocore's ``db_cluster_snapshot_available``).

    Emits ``{"status": "success", "snapshot_id": ...}`` or ``{"status": "error", "message": ...,
    "snapshot_id": ...}``, with ``resume_at`` when one is given.
    """

    aws_hook_class = RdsHook

    def __init__(
        self,
        snapshot_id: str,
        region_name: str | None = None,
        aws_conn_id: str | None = "aws_default",
        endpoint_url: str | None = None,
        resume_at: str | None = None,
        waiter_delay: int = 30,
        waiter_max_attempts: int = 240,
        verify: bool | str | None = None,
        botocore_config: dict | None = None,
    ) -> None:
        self._wait_until_available(
            "snapshot_id", snapshot_id, "DB cluster snapshot", "db_cluster_snapshot_available",
            {"DBClusterSnapshotIdentifier": snapshot_id},
            ["DBClusterSnapshots[].Status", "DBClusterSnapshots[].PercentProgress"],
            endpoint_url=endpoint_url, resume_at=resume_at, region_name=region_name, aws_conn_id=aws_conn_id,
            waiter_delay=waiter_delay, waiter_max_attempts=waiter_max_attempts, verify=verify,
            botocore_config=botocore_config,
        )
        self.snapshot_id = snapshot_id
