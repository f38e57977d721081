"""How many events shards the database has (database.shard_count); the queries run in the integration tests.

Named test_shopapp_database.py: test file names are unique across the tests tree."""

from __future__ import annotations

import pytest
from shopapp.database import StoreError, shard_count

ALL = [f"events_{n:02d}" for n in range(16)]


def test_without_seed_markers_every_events_table_is_a_shard():
    assert shard_count(ALL, []) == 16
    assert shard_count([*ALL[:4], "events_archive", "events_x1"], ["base"]) == 4


def test_seed_markers_tell_how_many_of_the_tables_hold_shards():
    assert shard_count(ALL, ["base", "events_00", "events_01", "events_02", "events_03"]) == 4


@pytest.mark.parametrize(
    ("tables", "markers", "message"),
    [
        ([], [], "events tables none"),
        (["events_00", "events_02"], [], "without a gap"),
        (ALL, ["events_00", "events_02"], "the seed is inconsistent"),
        (ALL[:2], ["events_00", "events_01", "events_02"], "the seed is inconsistent"),
    ],
)
def test_gaps_are_refused_saying_what_to_do(tables, markers, message):
    with pytest.raises(StoreError, match=message):
        shard_count(tables, markers)
