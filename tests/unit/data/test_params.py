from __future__ import annotations

import json
from datetime import date

import pytest

from loadstack.data.params import MAX_SHARDS, SeedParams, events_table


def test_params_hash_is_stable_and_sensitive(small_params):
    same = SeedParams.from_dict(json.loads(json.dumps(small_params.as_dict())))
    assert same == small_params and same.params_hash() == small_params.params_hash()
    assert SeedParams(**{**small_params.as_dict(), "seed": 8}).params_hash() != small_params.params_hash()
    assert SeedParams(start="2024-10-01").start == date(2024, 10, 1)


@pytest.mark.parametrize("bad", [{"shards": 17}, {"shards": 0}, {"profiles": 3, "accounts": 5}, {"days": 0}, {"inactive_profiles": 1}])
def test_invalid_params_are_rejected_by_name(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        SeedParams(**bad)


def test_shard_tables_are_named_like_the_schema():
    assert SeedParams(shards=3).shard_tables == ["events_00", "events_01", "events_02"]
    assert events_table(MAX_SHARDS - 1) == "events_15"
