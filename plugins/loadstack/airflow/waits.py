"""How a task waits for what the core asks it to (`loadstack.waits.Wait`): defer to the matching trigger.

A `Wait` names its kind and arguments in JSON primitives; this table turns it into the deferrable
trigger that polls for it. The trigger carries the wait's phase in its own serialized kwargs and
echoes it in its event (``resume_at``), which `WaitEvent.from_payload` reads back: the kwargs given to
``defer()`` are not relied on (``dag.test()`` drops them).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import BaseOperator
from airflow.triggers.base import BaseTrigger

from loadstack.airflow.triggers.aws import (
    ElastiCacheReplicationGroupAvailableTrigger,
    RdsClusterAvailableTrigger,
    RdsClusterSnapshotAvailableTrigger,
)
from loadstack.profiles import Profile
from loadstack.waits import (
    ELASTICACHE_GROUP_AVAILABLE,
    RDS_CLUSTER_AVAILABLE,
    RDS_CLUSTER_SNAPSHOT_AVAILABLE,
    Progress,
    Ready,
    Wait,
)

WAIT_TRIGGERS: dict[str, type[BaseTrigger]] = {
    RDS_CLUSTER_AVAILABLE: RdsClusterAvailableTrigger,
    RDS_CLUSTER_SNAPSHOT_AVAILABLE: RdsClusterSnapshotAvailableTrigger,
    ELASTICACHE_GROUP_AVAILABLE: ElastiCacheReplicationGroupAvailableTrigger,
}

# Every waiting task resumes here; the event's resume_at tells the core where to carry on.
RESUME_METHOD = "execute_complete"


def trigger_for(wait: Wait, profile: Profile) -> BaseTrigger:
    """The trigger that waits for `wait` where `profile` points (region, endpoint, connection)."""
    try:
        trigger_class = WAIT_TRIGGERS[wait.kind]
    except KeyError:
        raise ValueError(f"no trigger waits for {wait.kind!r} (known: {', '.join(sorted(WAIT_TRIGGERS))})") from None
    return trigger_class(**wait.args, resume_at=wait.phase, region_name=profile.region,
                         aws_conn_id=profile.aws_conn_id, endpoint_url=profile.endpoint_url)


def result_or_defer(task: BaseOperator, progress: Progress, *, profile: Profile, timeout: timedelta) -> dict[str, Any]:
    """The result of a finished step; for a wait, defers `task` (to resume in its `execute_complete`)."""
    if isinstance(progress, Ready):
        return progress.result
    task.defer(trigger=trigger_for(progress, profile), method_name=RESUME_METHOD, timeout=timeout)
