"""The stack lock on moto's in-process S3: one holder at a time, given back by its holder only, stale ones broken."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from loadstack.profiles import Profile
from loadstack.stack_lock import LockHolder, StackLock, lock_key

T0 = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)


@pytest.fixture
def profile(tmp_path, mocked_aws) -> Profile:
    profile = Profile(name="aws", region="us-east-1", state_bucket="state", home=tmp_path, terraform_bin="terraform",
                      plugin_mirror=tmp_path)
    profile.client("s3").create_bucket(Bucket="state")
    return profile


def lock(profile) -> StackLock:
    return StackLock(profile, "shop", clock=lambda: T0)


def test_one_run_holds_it_the_other_is_told_who(profile):
    assert lock(profile).acquire(dag_id="shop", run_id="scheduled__1") is None
    holder = lock(profile).acquire(dag_id="shop", run_id="backfill__1")
    assert holder == LockHolder(stack="shop", dag_id="shop", run_id="scheduled__1", acquired_at=T0.isoformat())
    assert "run scheduled__1 of shop" in holder.describe()
    # The teardown DAG is another DAG but the same stack: it waits too.
    assert lock(profile).acquire(dag_id="shop__teardown", run_id="manual__1") == holder


def test_the_same_run_gets_it_back(profile):
    assert lock(profile).acquire(dag_id="shop", run_id="scheduled__1") is None
    assert lock(profile).acquire(dag_id="shop", run_id="scheduled__1") is None  # a retry, or a rerun of that run


def test_only_the_holder_gives_it_back(profile):
    lock(profile).acquire(dag_id="shop", run_id="scheduled__1")
    assert lock(profile).release(dag_id="shop", run_id="backfill__1") is False
    assert lock(profile).holder()[0].run_id == "scheduled__1"
    assert lock(profile).release(dag_id="shop", run_id="scheduled__1") is True
    assert lock(profile).holder() == (None, None)
    assert lock(profile).release(dag_id="shop", run_id="scheduled__1") is False
    assert lock(profile).acquire(dag_id="shop", run_id="backfill__1") is None


def test_a_stale_lock_is_broken_only_while_that_holder_still_holds_it(profile):
    lock(profile).acquire(dag_id="shop", run_id="scheduled__1")
    stale = lock(profile).acquire(dag_id="shop", run_id="backfill__1")
    assert lock(profile).break_stale(stale) is True
    assert lock(profile).acquire(dag_id="shop", run_id="backfill__1") is None
    # The old holder's description no longer matches: nothing is broken.
    assert lock(profile).break_stale(stale) is False
    assert lock(profile).holder()[0].run_id == "backfill__1"


def test_the_lock_lives_in_the_state_bucket(profile):
    lock(profile).acquire(dag_id="shop", run_id="scheduled__1")
    keys = [o["Key"] for o in profile.client("s3").list_objects_v2(Bucket="state")["Contents"]]
    assert keys == [lock_key("shop")] == ["loadstack/locks/shop.json"]
