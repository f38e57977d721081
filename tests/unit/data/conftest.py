"""Unit tests of loadstack.data: no servers; small SeedParams keep generation in milliseconds."""

from __future__ import annotations

import pytest

from loadstack.data.generate import SeedParams


@pytest.fixture
def small_params() -> SeedParams:
    return SeedParams(seed=7, accounts=12, products_per_account=15, profiles=1_500, events=20_000, orders=600)
