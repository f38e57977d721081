"""RedisRestoreOperator / RedisTeardownOperator with the profile's cache backend mocked."""

from __future__ import annotations

from unittest import mock

import pytest
from airflow.sdk.exceptions import TaskDeferred

from loadstack.airflow.operators import snapshot_restore
from loadstack.airflow.operators.redis import RedisRestoreOperator, RedisTeardownOperator
from loadstack.airflow.operators.snapshot_restore import RESTORE_TIMEOUT
from loadstack.airflow.triggers.aws import ElastiCacheReplicationGroupAvailableTrigger
from loadstack.backends import Backends
from loadstack.kinds.placement import CachePlacement
from loadstack.kinds.redis_restore import RedisSize
from loadstack.restore.cache import CacheRestore
from loadstack.waits import ELASTICACHE_GROUP_AVAILABLE, Ready, Wait, WaitEvent, WaitFailed

OUTPUTS = {"engine": "redis", "host": "cache.example", "port": 6379, "secret_id": None, "snapshot": "fx-cache"}


@pytest.fixture
def cache(monkeypatch, profile, entry):
    restore = mock.create_autospec(CacheRestore, instance=True)
    backends = mock.create_autospec(Backends, instance=True)
    backends.cache.return_value = restore
    monkeypatch.setattr(snapshot_restore, "backends_for", mock.Mock(return_value=backends))
    monkeypatch.setattr(snapshot_restore, "current_entry", mock.Mock(return_value=entry))
    restore.backends = backends
    return restore


def restore_operator(profile, **overrides) -> RedisRestoreOperator:
    op = RedisRestoreOperator(**{
        "task_id": "restore", "stack": "shop", "step": "cache", "variant": "minimal", "snapshot": "fx-cache",
        "snapshots_dir": "/nowhere",
        "sizes": {"minimal": {"node_type": "cache.t4g.small", "replicas": 0},
                  "production": {"node_type": "cache.r6g.xlarge", "replicas": 2}},
        "placement": {"security_group_ids": ["sg-cache"]}, "output_sources": {}, **overrides,
    })
    op.__dict__["profile"] = profile
    return op


def test_execute_defers_to_the_replication_group_trigger(profile, cache, entry, recorded, make_context):
    cache.restore.return_value = Wait(kind=ELASTICACHE_GROUP_AVAILABLE, args={"group_id": "shop-cache"},
                                      phase="group_available")
    with pytest.raises(TaskDeferred) as deferred:
        restore_operator(profile).execute(make_context())
    cache.backends.cache.assert_called_once_with("shop", "cache")
    cache.restore.assert_called_once_with(entry, RedisSize(node_type="cache.t4g.small", replicas=0),
                                          CachePlacement(security_group_ids=["sg-cache"]))
    trigger = deferred.value.trigger
    assert isinstance(trigger, ElastiCacheReplicationGroupAvailableTrigger)
    assert (trigger.group_id, trigger.resume_at) == ("shop-cache", "group_available")
    assert deferred.value.method_name == "execute_complete" and deferred.value.timeout == RESTORE_TIMEOUT
    recorded["record"].assert_not_called()


def test_execute_records_a_cache_restored_in_the_task(profile, cache, recorded, make_context):
    cache.restore.return_value = Ready(OUTPUTS)
    assert restore_operator(profile).execute(make_context()) == OUTPUTS
    recorded["record"].assert_called_once_with(profile, "shop", "cache", OUTPUTS)


def test_execute_complete_success_and_failure(profile, cache, recorded, make_context):
    cache.resume.return_value = Ready(OUTPUTS)
    ok = {"status": "success", "group_id": "shop-cache", "resume_at": "group_available"}
    assert restore_operator(profile).execute_complete(make_context(), ok) == OUTPUTS
    cache.resume.assert_called_once_with(
        "fx-cache", WaitEvent(phase="group_available", succeeded=True, values={"group_id": "shop-cache"}))

    cache.resume.reset_mock()
    recorded["record"].reset_mock()
    cache.resume.side_effect = WaitFailed("restoring shop-cache: create-failed (seeding from s3://...)")
    with pytest.raises(WaitFailed, match="create-failed"):
        restore_operator(profile).execute_complete(make_context(), {"status": "error", "message": "create-failed",
                                                                    "resume_at": "group_available"})
    assert cache.resume.call_args.args[1] == WaitEvent(phase="group_available", succeeded=False,
                                                       message="create-failed")
    recorded["record"].assert_not_called()


def test_teardown_removes_the_cache_and_forgets_the_outputs(profile, cache, recorded, make_context):
    cache.teardown.return_value = "nothing to remove"
    op = RedisTeardownOperator(task_id="destroy", stack="shop", step="cache", variant="minimal")
    op.__dict__["profile"] = profile
    op.execute(make_context())
    cache.teardown.assert_called_once_with()
    recorded["forget"].assert_called_once_with(profile, "shop", "cache")
