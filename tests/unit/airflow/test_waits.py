"""loadstack.airflow.waits: every wait the core can ask for has a trigger, pointed where the profile says."""

from __future__ import annotations

import json

import pytest

from loadstack import waits
from loadstack.airflow.waits import WAIT_TRIGGERS, result_or_defer, trigger_for
from loadstack.waits import Ready, Wait

ARGS = {
    waits.RDS_CLUSTER_AVAILABLE: {"cluster_id": "shop-events-db"},
    waits.RDS_CLUSTER_SNAPSHOT_AVAILABLE: {"snapshot_id": "shop-seeded-1"},
    waits.ELASTICACHE_GROUP_AVAILABLE: {"group_id": "shop-cache"},
}


def test_the_table_covers_every_kind_of_wait():
    kinds = {value for name, value in vars(waits).items() if name.isupper() and isinstance(value, str)}
    assert set(WAIT_TRIGGERS) == kinds == set(ARGS)


@pytest.mark.parametrize("kind", sorted(ARGS))
def test_a_wait_becomes_its_trigger_with_the_phase_and_the_profile(kind, profile):
    trigger = trigger_for(Wait(kind=kind, args=ARGS[kind], phase="next"), profile)
    assert isinstance(trigger, WAIT_TRIGGERS[kind])
    _, kwargs = trigger.serialize()
    assert json.loads(json.dumps(kwargs)) == kwargs
    assert kwargs == {**kwargs, **ARGS[kind], "resume_at": "next", "region_name": "eu-west-1",
                      "endpoint_url": "http://127.0.0.1:1", "aws_conn_id": "aws_default"}


def test_an_unknown_wait_names_the_known_ones(profile):
    with pytest.raises(ValueError, match="no trigger waits for 'dns_in_sync' \\(known: elasticache_replication_group"):
        trigger_for(Wait(kind="dns_in_sync", args={}, phase="p"), profile)


def test_a_ready_step_is_its_result_and_never_defers(profile):
    class NoDefer:
        def defer(self, **kwargs):
            raise AssertionError("deferred a ready step")

    assert result_or_defer(NoDefer(), Ready({"a": 1}), profile=profile, timeout=None) == {"a": 1}
