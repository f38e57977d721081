"""Parsing the master's counters and naming the master in every failure."""

from __future__ import annotations

import pytest

from loadstack.locust import master_api
from loadstack.locust.master_api import Counters, LocustMasterError
from loadstack.supervisor import free_port

COUNTERS = {
    "time": 1000.5,
    "complete_at": 999.0,
    "last_report_at": 1000.0,
    "stats_epoch": 2,
    "requests": 30,
    "failures": 1,
    "response_times": [[3, 20], [120, 10]],
    "workers": 2,
}


def test_counters_from_json():
    counters = Counters.from_json(COUNTERS)
    assert counters.histogram == {3: 20, 120: 10}
    assert (counters.requests, counters.failures, counters.stats_epoch, counters.workers) == (30, 1, 2, 2)
    assert counters.complete_at == 999.0


def test_counters_before_any_report_have_no_complete_time():
    assert Counters.from_json({**COUNTERS, "complete_at": None, "last_report_at": None}).complete_at is None


def test_counters_of_an_unexpected_shape_name_the_master():
    with pytest.raises(LocustMasterError, match=r"http://m:1/loadstack/counters answered an unexpected shape"):
        Counters.from_json({"time": 1}, url="http://m:1")


def test_a_master_that_is_gone_is_named_with_what_to_check():
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(LocustMasterError, match=rf"{url}/loadstack/rate did not answer .* still running"):
        master_api.rate_state(url, timeout=2)
