"""The reaper's choice against moto's in-process S3: expired stacks marked and triggered, silent teardowns settled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest

from loadstack.airflow.operators.expired_stacks import SelectExpiredStacksOperator, teardown_run_id
from loadstack.stack_registry import MAX_REAP_ATTEMPTS, StackRegistry

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
REAPER_RUN = "scheduled__2026-11-30T12:00:00+00:00"
TEARDOWN_RUN = f"reaped__{REAPER_RUN}"


class Clock:
    now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def registry(s3_profile, clock) -> StackRegistry:
    return StackRegistry(s3_profile, clock=clock)


def up(registry, stack: str, ttl: timedelta, variant: str = "minimal"):
    return registry.register(stack=stack, variant=variant, run_id=f"manual__{stack}", owner="sre", ttl=ttl,
                             teardown_dag=f"{stack}__teardown")


def select(registry, *, run_counts: dict[str, int] | None = None, run_states: dict[str, str] | None = None):
    op = SelectExpiredStacksOperator(task_id="select_expired")
    op.registry = registry
    ti = mock.Mock(dag_id="loadstack_reaper")
    ti.get_dr_count.side_effect = lambda dag_id, run_ids: (run_counts or {}).get(run_ids[0], 1)
    ti.get_dagrun_state.side_effect = lambda dag_id, run_id: (run_states or {})[run_id]
    return op.execute({"ti": ti, "dag_run": mock.Mock(run_id=REAPER_RUN)})


def test_expired_stacks_are_marked_and_their_teardown_dags_triggered(registry, clock, capsys):
    up(registry, "shop", timedelta(hours=2), variant="production")
    up(registry, "web", timedelta(hours=8))
    clock.now = T0 + timedelta(hours=3)
    capsys.readouterr()
    triggers = select(registry)
    entry = registry.get("shop")
    assert triggers == [{"trigger_dag_id": "shop__teardown", "trigger_run_id": TEARDOWN_RUN,
                         "conf": {"variant": "production", "reason": entry.reason}}]
    assert (entry.status, entry.teardown_run, entry.teardown_attempts) == ("tearing_down", TEARDOWN_RUN, 1)
    assert entry.reason == (f"expired 1h00m ago (up since 2026-11-30 09:00 UTC, stood up by run manual__shop, "
                            f"ttl 2h00m); reaped by loadstack_reaper run {REAPER_RUN}")
    assert f"reaping shop: {entry.reason}; starting shop__teardown run {TEARDOWN_RUN} (variant production)" in capsys.readouterr().out
    assert registry.get("web").status == "up"


def test_nothing_expired_says_what_expires_next(registry, clock, capsys):
    up(registry, "shop", timedelta(hours=2))
    capsys.readouterr()
    assert select(registry) == []
    assert "nothing to reap: 1 stack(s) listed, next shop (expires in 2h00m)" in capsys.readouterr().out
    assert registry.get("shop").status == "up"


def test_a_retried_select_triggers_again_what_its_first_try_marked(registry, clock):
    up(registry, "shop", timedelta(hours=1))
    clock.now = T0 + timedelta(hours=2)
    first = select(registry)
    assert select(registry) == first  # the trigger then skips a run that already exists
    assert registry.get("shop").teardown_attempts == 1


def test_a_failed_teardown_is_retried_then_left_for_a_person(registry, clock, capsys):
    up(registry, "shop", timedelta(hours=1))
    clock.now = T0 + timedelta(hours=2)
    registry.mark_tearing_down("shop", reason="expired", teardown_run="r1")
    registry.mark_teardown_failed("shop", reason="app.destroy failed")
    [trigger] = select(registry)
    assert "; attempt 2 of 3, the last failed: app.destroy failed" in trigger["conf"]["reason"]
    for attempt in range(2, MAX_REAP_ATTEMPTS + 1):
        registry.mark_teardown_failed("shop", reason="still failing")
        if attempt < MAX_REAP_ATTEMPTS:
            registry.mark_tearing_down("shop", reason="expired", teardown_run=f"r{attempt + 1}")
    capsys.readouterr()
    assert select(registry) == []
    assert "shop: teardown failed 3 times, left for a person: still failing" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("counts", "states", "reason"),
    [
        ({"td1": 0}, {}, "teardown run td1 of shop__teardown never started (is the DAG missing or paused?); was: expired"),
        ({}, {"td1": "failed"}, "teardown run td1 of shop__teardown failed (see its task logs)"),
    ],
)
def test_a_teardown_that_ended_without_saying_so_is_settled(registry, clock, counts, states, reason):
    up(registry, "shop", timedelta(hours=8))
    registry.mark_tearing_down("shop", reason="expired", teardown_run="td1")
    assert select(registry, run_counts=counts, run_states=states) == []  # not expired: not retried yet
    entry = registry.get("shop")
    assert (entry.status, entry.reason) == ("teardown_failed", reason)


def test_a_teardown_still_running_is_left_alone(registry, clock):
    up(registry, "shop", timedelta(hours=1))
    registry.mark_tearing_down("shop", reason="expired", teardown_run="td1")
    clock.now = T0 + timedelta(hours=5)
    assert select(registry, run_states={"td1": "running"}) == []
    assert registry.get("shop").status == "tearing_down"


def test_teardown_run_id_follows_the_reaper_run():
    assert teardown_run_id("scheduled__x") == "reaped__scheduled__x"
