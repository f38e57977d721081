"""Unit tests of loadstack.data: no servers; small SeedParams keep generation in milliseconds."""

from __future__ import annotations

import re

import pytest

from loadstack.data.params import SeedParams


@pytest.fixture
def small_params() -> SeedParams:
    return SeedParams(seed=7, accounts=12, products_per_account=15, profiles=1_500, events=20_000, orders=600)


def _unescape(field: str) -> str | None:
    """Inverse of LOAD DATA's backslash escaping, as the server applies it."""
    if field == "\\N":
        return None
    return re.sub(r"\\(.)", lambda m: {"t": "\t", "n": "\n", "r": "\r", "0": "\0"}.get(m[1], m[1]), field)


@pytest.fixture
def unescape():
    return _unescape
