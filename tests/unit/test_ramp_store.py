"""loadstack.ramp_store: a ramp's checkpoint in the state bucket (moto in process)."""

import pytest

from loadstack.profiles import Profile
from loadstack.ramp_store import RampStore


@pytest.fixture
def store(mocked_aws, tmp_path):
    profile = Profile(name="aws", region="us-east-1", state_bucket="state", home=tmp_path, terraform_bin="terraform",
                      plugin_mirror=tmp_path)
    profile.client("s3").create_bucket(Bucket=profile.state_bucket)
    return RampStore(profile, "shop", "manual__2026-11-30T01:00:00+00:00", "ramp")


def test_nothing_checkpointed_is_none(store):
    assert store.load() is None


def test_a_checkpoint_round_trips_and_is_keyed_by_stack_run_and_step(store):
    store.save({"phase": "ramping", "stage": 2, "timeline": {"samples": [{"at": 1.5, "qps": None}]}})
    assert store.load() == {"phase": "ramping", "stage": 2, "timeline": {"samples": [{"at": 1.5, "qps": None}]}}
    assert store.key == "ramps/shop/manual__2026-11-30T01:00:00+00:00/ramp/state.json"
    other_run = RampStore(store.profile, "shop", "manual__other", "ramp")
    assert other_run.load() is None


def test_the_newest_checkpoint_wins_and_delete_forgets_it(store):
    store.save({"stage": 1})
    store.save({"stage": 3})
    assert store.load() == {"stage": 3}
    store.delete()
    assert store.load() is None
