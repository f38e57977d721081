"""Pins the exact bytes of a small generated dataset: a refactoring of the generator must not move one.

If a deliberate change of the data makes this fail, bump GENERATOR_VERSION (it is part of
params_hash(), so old seed markers and snapshots are not mistaken for the new data) and update
the digest.
"""

from __future__ import annotations

import hashlib

from loadstack.data.base_tables import BASE_TABLE_ROWS
from loadstack.data.events import EventGenerator
from loadstack.data.params import SeedParams

PARAMS = SeedParams(seed=11, accounts=6, products_per_account=9, profiles=900, events=12_000, orders=300, shards=5)
DATASET_SHA256 = "1261601136d2203b0fcb03f575bbebd0cb7ad79ea77e01a7669d84520d5af5dc"
PARAMS_HASH = "21e86e88f2fac43e2722f91970d64b01f8b2f858f81e1368b044f156ae8070e6"


def _dataset_digest(params: SeedParams) -> str:
    digest = hashlib.sha256()
    for table, rows in BASE_TABLE_ROWS.items():
        digest.update(f"-- {table}\n".encode())
        for line in rows(params):
            digest.update(line.encode())
    for shard in range(params.shards):
        digest.update(f"-- events {shard}\n".encode())
        for chunk in EventGenerator(params, shard).iter_chunks(1_000):
            digest.update("".join(chunk).encode())
    return digest.hexdigest()


def test_generated_bytes_are_pinned():
    assert _dataset_digest(PARAMS) == DATASET_SHA256


def test_params_hash_is_pinned():
    assert PARAMS.params_hash() == PARAMS_HASH
