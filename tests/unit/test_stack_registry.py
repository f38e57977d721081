"""The stack registry on moto's in-process S3: entries, expiry arithmetic, and the concurrent-update guard."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from loadstack.profiles import Profile
from loadstack.stack_registry import (
    MAX_REAP_ATTEMPTS,
    RegistryConflict,
    StackEntry,
    StackRegistry,
    describe_expiry,
    entry_key,
    format_duration,
)

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now
        self.on_tick = None

    def __call__(self) -> datetime:
        if self.on_tick is not None:
            self.on_tick()
        return self.now


@pytest.fixture
def profile(tmp_path, mocked_aws) -> Profile:
    profile = Profile(name="aws", region="us-east-1", state_bucket="state", home=tmp_path, terraform_bin="terraform",
                      plugin_mirror=tmp_path)
    profile.client("s3").create_bucket(Bucket="state")
    return profile


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def registry(profile, clock) -> StackRegistry:
    return StackRegistry(profile, clock=clock)


def register(registry: StackRegistry, stack: str = "shop", ttl: timedelta = timedelta(hours=8), **kwargs) -> StackEntry:
    fields = dict(stack=stack, variant="minimal", run_id="manual__1", owner="sre-load", ttl=ttl,
                  teardown_dag=f"{stack}__teardown")
    return registry.register(**{**fields, **kwargs})


def test_register_writes_one_json_object_per_stack(registry, profile):
    entry = register(registry)
    assert entry.status == "up" and entry.profile == "aws" and entry.revision == 1
    assert entry.created_at == T0 and entry.expires_at == T0 + timedelta(hours=8)
    body = json.loads(profile.client("s3").get_object(Bucket="state", Key="loadstack/registry/shop.json")["Body"].read())
    assert body["stack"] == "shop" and body["variant"] == "minimal" and body["run_id"] == "manual__1"
    assert body["expires_at"] == "2026-11-30T17:00:00+00:00" and body["teardown_dag"] == "shop__teardown"
    assert registry.get("shop") == entry
    assert registry.get("other") is None


def test_list_is_sorted_and_ignores_foreign_objects(registry, profile):
    register(registry, "web")
    register(registry, "shop")
    profile.client("s3").put_object(Bucket="state", Key="loadstack/registry/notes/readme.json", Body=b"{}")
    assert [e.stack for e in registry.list()] == ["shop", "web"]


def test_a_later_stand_up_starts_a_new_lifetime(registry, clock):
    register(registry, ttl=timedelta(hours=1))
    registry.mark_teardown_failed("shop", reason="boom")
    clock.now = T0 + timedelta(hours=3)
    entry = register(registry, run_id="manual__2", variant="production", ttl=timedelta(hours=2))
    assert (entry.status, entry.reason, entry.run_id, entry.variant) == ("up", "", "manual__2", "production")
    assert entry.created_at == T0 + timedelta(hours=3) and entry.expires_at == T0 + timedelta(hours=5)
    assert entry.revision == 3


def test_teardown_lifecycle(registry):
    register(registry)
    down = registry.mark_tearing_down("shop", reason="expired 10m ago", teardown_run="reaped__1")
    assert (down.status, down.reason, down.teardown_run, down.teardown_attempts) == (
        "tearing_down", "expired 10m ago", "reaped__1", 1)
    # The teardown run's own first task (or its retry) marks it again: nothing changes.
    assert registry.mark_tearing_down("shop", reason="manual teardown", teardown_run="reaped__1") == down
    failed = registry.mark_teardown_failed("shop", reason="network.destroy failed")
    assert (failed.status, failed.reason, failed.teardown_run) == ("teardown_failed", "network.destroy failed", "reaped__1")
    assert registry.remove("shop", teardown_run="reaped__2") is True
    assert registry.get("shop") is None and registry.list() == []


def test_marks_and_remove_of_an_unlisted_stack_do_nothing(registry):
    assert registry.mark_tearing_down("ghost", reason="manual", teardown_run="r") is None
    assert registry.mark_teardown_failed("ghost", reason="x") is None
    assert registry.remove("ghost") is False
    assert registry.list() == []


def test_remove_keeps_a_stack_registered_again_during_its_teardown(registry):
    register(registry)
    registry.mark_tearing_down("shop", reason="manual", teardown_run="td__1")
    register(registry, run_id="manual__2")
    assert registry.remove("shop", teardown_run="td__1") is False
    assert registry.get("shop").run_id == "manual__2"
    # Without a teardown run to compare with, removal is unconditional.
    assert registry.remove("shop") is True


def test_expiry_arithmetic(registry, clock):
    register(registry, "shop", ttl=timedelta(hours=8))
    register(registry, "web", ttl=timedelta(minutes=30))
    assert registry.expired(T0 + timedelta(minutes=29, seconds=59)) == []
    assert [e.stack for e in registry.expired(T0 + timedelta(minutes=30))] == ["web"]
    assert [e.stack for e in registry.expired(T0 + timedelta(hours=9))] == ["web", "shop"]  # soonest expired first
    clock.now = T0 + timedelta(hours=1)
    assert [e.stack for e in registry.expired()] == ["web"]  # default: the registry's clock


def test_what_the_reaper_takes(registry):
    late = T0 + timedelta(days=1)
    register(registry)
    registry.mark_tearing_down("shop", reason="expired", teardown_run="r1")
    assert registry.expired(late) == []  # a teardown is under way
    for attempt in range(1, MAX_REAP_ATTEMPTS):
        registry.mark_teardown_failed("shop", reason=f"failure {attempt}")
        assert [e.teardown_attempts for e in registry.expired(late)] == [attempt]  # retried
        registry.mark_tearing_down("shop", reason="expired", teardown_run=f"r{attempt + 1}")
    registry.mark_teardown_failed("shop", reason="for good")
    assert registry.expired(late) == []  # given up: stays listed with its reason
    assert registry.get("shop").reason == "for good"


def test_a_concurrent_update_is_not_lost(profile, clock, registry):
    """Two teardowns mark the same entry at once: the writer that lost re-reads and both attempts count."""
    register(registry)
    racer = StackRegistry(profile, clock=lambda: T0)
    raced: list[int] = []

    def race_once():
        if not raced:
            raced.append(1)
            racer.mark_tearing_down("shop", reason="by the racer", teardown_run="racer")

    clock.on_tick = race_once  # fires between this writer's read and its write
    entry = registry.mark_tearing_down("shop", reason="by the reaper", teardown_run="reaper")
    assert raced == [1]
    assert (entry.teardown_attempts, entry.teardown_run, entry.revision) == (2, "reaper", 3)
    assert registry.get("shop") == entry


def test_a_concurrent_removal_is_seen(profile, clock, registry):
    register(registry)
    racer = StackRegistry(profile, clock=lambda: T0)
    clock.on_tick = lambda: racer.remove("shop")
    assert registry.mark_teardown_failed("shop", reason="late") is None
    assert registry.get("shop") is None


def test_a_writer_that_always_loses_gives_up_without_writing(profile, clock):
    registry = StackRegistry(profile, clock=clock, attempts=3)
    register(StackRegistry(profile, clock=lambda: T0))
    racer = StackRegistry(profile, clock=lambda: T0)
    clock.on_tick = lambda: racer.mark_teardown_failed("shop", reason="racer wins")
    with pytest.raises(RegistryConflict, match=r"s3://state/loadstack/registry/shop.json changed under every one of 3"):
        registry.mark_tearing_down("shop", reason="never written", teardown_run="r")
    assert registry.get("shop").reason == "racer wins"


def test_a_create_race_is_guarded_too(profile, clock):
    registry = StackRegistry(profile, clock=clock)
    racer = StackRegistry(profile, clock=lambda: T0)
    raced: list[int] = []

    def race_once():
        if not raced:
            raced.append(1)
            register(racer, run_id="racer")

    clock.on_tick = race_once
    entry = register(registry, run_id="mine")
    assert entry.run_id == "mine" and entry.revision == 2


def test_fields_a_newer_version_added_are_ignored(registry, profile):
    register(registry)
    s3 = profile.client("s3")
    body = json.loads(s3.get_object(Bucket="state", Key=entry_key("shop"))["Body"].read())
    s3.put_object(Bucket="state", Key=entry_key("shop"), Body=json.dumps({**body, "keep_up": True}).encode())
    assert registry.get("shop").run_id == "manual__1"


def test_an_unknown_status_is_refused(registry, profile):
    register(registry)
    s3 = profile.client("s3")
    body = json.loads(s3.get_object(Bucket="state", Key=entry_key("shop"))["Body"].read())
    s3.put_object(Bucket="state", Key=entry_key("shop"), Body=json.dumps({**body, "status": "zombie"}).encode())
    with pytest.raises(ValueError, match="registry entry 'shop': unknown status 'zombie'"):
        registry.get("shop")


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(seconds=40), "40s"),
        (timedelta(minutes=5, seconds=7), "5m07s"),
        (timedelta(hours=3, minutes=12, seconds=59), "3h12m"),
        (timedelta(days=1, hours=2, minutes=5), "1d2h05m"),
    ],
)
def test_format_duration(delta, text):
    assert format_duration(delta) == text


def test_describe_expiry(registry):
    entry = register(registry, ttl=timedelta(hours=1))
    assert describe_expiry(entry, T0 + timedelta(minutes=50)) == "expires in 10m00s"
    assert describe_expiry(entry, T0 + timedelta(hours=1, minutes=5)) == "expired 5m00s ago"
