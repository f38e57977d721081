"""include/locust/shop.py's pure parts: the rate -> users arithmetic, pacing, the rate body, the shape.

The locustfile imports Locust, whose import monkey-patches the whole process with gevent unless
LOCUST_SKIP_MONKEY_PATCH is set: it is set before the file is loaded, so this test process stays
unpatched.
"""

from __future__ import annotations

import importlib.util
import math
import os
from pathlib import Path

import pytest

LOCUSTFILE = Path(__file__).resolve().parents[3] / "include" / "locust" / "shop.py"


@pytest.fixture(scope="module")
def shop():
    os.environ.setdefault("LOCUST_SKIP_MONKEY_PATCH", "1")
    spec = importlib.util.spec_from_file_location("loadstack_test_shop_locustfile", LOCUSTFILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_imports_nothing_from_loadstack():
    text = LOCUSTFILE.read_text()
    assert "loadstack." not in "".join(line for line in text.splitlines() if line.startswith(("import", "from")))


@pytest.mark.parametrize("qps", [0.5, 1, 2, 3, 5, 7.5, 20, 59.9, 60, 150, 333.3, 1000])
def test_plan_users_gives_exactly_the_rate_with_each_user_under_the_cap(shop, qps):
    users, user_qps = shop.plan_users(qps, 2.0)
    assert math.isclose(users * user_qps, qps, rel_tol=1e-12)
    assert user_qps <= 2.0 + 1e-12
    assert users == math.ceil(qps / 2.0 - 1e-9)  # the fewest users that stay under the cap


def test_plan_users_zero_is_no_users(shop):
    assert shop.plan_users(0.0) == (0, 0.0)


def test_plan_users_multiples_of_the_cap_run_at_the_cap(shop):
    assert shop.plan_users(150, 2.0) == (75, 2.0)
    assert shop.plan_users(20, 2.0) == (10, 2.0)
    assert shop.plan_users(5, 2.0) == (3, 5 / 3)


@pytest.mark.parametrize("qps", [-1, float("nan"), float("inf")])
def test_plan_users_refuses_bad_rates(shop, qps):
    with pytest.raises(ValueError, match="finite number >= 0"):
        shop.plan_users(qps)


def test_plan_users_refuses_a_bad_cap(shop):
    with pytest.raises(ValueError, match="--user-max-qps"):
        shop.plan_users(10, 0)


def test_spawn_rate_applies_a_change_in_one_dispatch(shop):
    assert shop.spawn_rate_for(0, 300) == 300
    assert shop.spawn_rate_for(300, 10) == 290
    assert shop.spawn_rate_for(10, 12) == shop.MIN_SPAWN_RATE


def test_next_start_keeps_the_schedule_while_requests_are_fast(shop):
    assert shop.next_start(100.0, 0.5, now=100.02) == 100.5
    # a request that ran over its slot starts the next one at once (due is in the past)...
    assert shop.next_start(100.0, 0.5, now=100.7) == 100.5
    # ...but a user more than an interval behind drops the backlog instead of bursting
    assert shop.next_start(100.0, 0.5, now=101.2) == 101.2


def test_paced_user_reaches_its_rate_with_varying_latency(shop):
    # 1000 requests at 4/s with latencies up to 0.2 s: the schedule, not the latency, sets the rate.
    now, scheduled, interval = 0.0, 0.0, 0.25
    for n in range(1000):
        now = scheduled + (0.2 if n % 3 == 0 else 0.01)  # the request's duration
        scheduled = shop.next_start(scheduled, interval, now)
        now = max(now, scheduled)
    assert math.isclose(1000 / scheduled, 4.0, rel_tol=0.01)


def test_parse_rate_body(shop):
    assert shop.parse_rate_body(b'{"qps": 12.5}') == 12.5
    assert shop.parse_rate_body(b'{"qps": 0}') == 0.0
    for bad, message in [
        (b"", "JSON object"),
        (b"nope", "not JSON"),
        (b"[1]", "JSON object"),
        (b'{"rate": 1}', "JSON object"),
        (b'{"qps": -1}', ">= 0"),
        (b'{"qps": "5"}', ">= 0"),
        (b'{"qps": true}', ">= 0"),
        (b'{"qps": NaN}', ">= 0"),
    ]:
        with pytest.raises(ValueError, match=message):
            shop.parse_rate_body(bad)


def test_histogram_pairs_are_sorted_and_skip_empty_buckets(shop):
    assert shop.histogram_pairs({120: 3, 4: 10, 7: 0, 1000: 1}) == [[4, 10], [120, 3], [1000, 1]]


class FakeRunner:
    def __init__(self):
        self.sent = []
        self.user_count = 0

    def send_message(self, msg_type, data=None, client_id=None):
        self.sent.append((msg_type, data))


def test_shape_sends_the_user_rate_before_returning_the_user_count(shop):
    shape = shop.RateShape()
    shape.runner = FakeRunner()
    shop.control.target_qps, shop.control.user_max_qps = 150.0, 2.0
    assert shape.tick() == (75, 75.0)
    assert shape.runner.sent == [(shop.USER_QPS_MESSAGE, {"qps": 2.0})]
    assert shop.control.sent_user_qps == 2.0
    # an unchanged rate returns the same tuple (the runner then leaves the users alone)
    assert shape.tick() == (75, 75.0)
    shop.control.target_qps = 5.0
    users, spawn_rate = shape.tick()
    assert (users, spawn_rate) == (3, 72.0)
    assert shape.runner.sent[-1] == (shop.USER_QPS_MESSAGE, {"qps": 5 / 3})
    # draining stops every user and sends no zero rate (users left over keep a real rate)
    shop.control.target_qps = 0.0
    sent = len(shape.runner.sent)
    assert shape.tick()[0] == 0
    assert len(shape.runner.sent) == sent


def test_keys_take_the_apps_profiles_with_their_account_and_sessions(shop):
    keys = shop.Keys()
    keys.load({"profiles": [{"profile_id": 5, "account_id": 2}], "sessions": ["abc"]})
    assert keys.loaded and keys.profiles == [{"profile_id": 5, "account_id": 2}] and keys.sessions == ["abc"]
    with pytest.raises(ValueError, match="non-empty profiles and sessions"):
        shop.Keys().load({"profiles": [{"profile_id": 5, "account_id": 2}], "sessions": []})
    with pytest.raises(ValueError, match="profile_id and account_id"):
        shop.Keys().load({"profiles": [5], "sessions": ["abc"]})
    with pytest.raises(TypeError, match="JSON object"):
        shop.Keys().load([1, 2])


def test_parse_target_body(shop):
    assert shop.parse_target_body(b'{"host": "http://127.0.0.1:8000/"}') == "http://127.0.0.1:8000"
    assert shop.parse_target_body(b'{"host": "https://shop.example"}') == "https://shop.example"
    for bad in (b"", b"[", b'{"qps": 1}', b'{"host": 8000}', b'{"host": "127.0.0.1:8000"}', b'{"host": "http://"}'):
        with pytest.raises(ValueError, match="host"):
            shop.parse_target_body(bad)


def test_a_workers_totals_between_reports_spread_the_later_report_over_its_interval(shop):
    start = shop.Totals(100.0, 0, 0, {})
    first = start.plus(103.0, 300, 3, {5: 290, 120: 10})
    second = first.plus(106.0, 600, 0, {5: 600})
    history = [start, first, second]
    assert shop.totals_as_of(history, 104.5) == shop.Totals(104.5, 600.0, 3.0, {5: 590.0, 120: 10.0})
    assert shop.totals_as_of(history, 103.0) == first
    assert shop.totals_as_of(history, 110.0) == second  # after the last report: its totals
    assert shop.totals_as_of(history, 90.0) == start
    assert shop.totals_as_of([], 90.0).requests == 0


def test_two_workers_reporting_at_different_times_add_up_to_what_both_finished_by_then(shop, monkeypatch):
    monkeypatch.setattr(shop.time, "time", lambda: 100.0)
    control = shop.RateControl()
    control.new_epoch()
    # Two workers at 100 requests per second, reporting every 3 s, one second apart.
    for at in (103.0, 106.0, 109.0):
        control.add_report("a", at, {"num_requests": 300, "num_failures": 0, "response_times": {2: 300}})
    for at in (104.0, 107.0):
        control.add_report("b", at, {"num_requests": 300, "num_failures": 0, "response_times": {2: 300}})
    # b's first report covers (101, 104]; at 107 a has reported past it, up to 109.
    totals = control.totals_as_of(107.0)
    assert totals.requests == pytest.approx(700 + 600)
    assert totals.histogram[2] == pytest.approx(1300)
    # Over any window the total rate is the true 200 per second, whichever worker reported last.
    assert control.totals_as_of(107.0).requests - control.totals_as_of(104.0).requests == pytest.approx(600)
    control.new_epoch()
    assert control.totals_as_of(107.0).requests == 0


def test_histogram_pairs_round_shares_down(shop):
    assert shop.histogram_pairs({3: 2.999, 7: 0.5, 1: 4.0}) == [[1, 4], [3, 2]]


# --- the rate lease ----------------------------------------------------------------------------------
def test_parse_lease_body(shop):
    assert shop.parse_lease_body(b'{"qps": 5}') is None  # no lease: the rate holds until changed
    assert shop.parse_lease_body(b'{"qps": 5, "lease_s": null}') is None
    assert shop.parse_lease_body(b'{"qps": 5, "lease_s": 20}') == 20.0
    for bad in (b"0", b"-3", b"true", b'"20"', b"1e999"):
        with pytest.raises(ValueError, match="lease_s must be a finite number of seconds > 0"):
            shop.parse_lease_body(b'{"qps": 5, "lease_s": ' + bad + b"}")


def test_lease_left(shop):
    assert shop.lease_left(None, 100.0) is None
    assert shop.lease_left(112.5, 100.0) == 12.5
    assert shop.lease_left(90.0, 100.0) == 0.0


def test_a_lease_holds_the_rate_until_it_runs_out_unrenewed_then_drops_it_to_zero_once(shop):
    control = shop.RateControl()
    control.set_rate(40.0, 20.0, now=1000.0)
    assert not control.check_lease(1019.9) and control.target_qps == 40.0
    assert control.lease_state(1010.0) == {
        "lease_s": 20.0, "lease_left_s": 10.0, "lease_expired": False, "quit_on_lease_expiry": False,
    }
    control.set_rate(40.0, 20.0, now=1015.0)  # a renewal: the same rate asked again
    assert not control.check_lease(1030.0) and control.target_qps == 40.0
    assert control.check_lease(1035.0)  # 20 s after the renewal: expired, found once
    assert control.target_qps == 0.0 and control.plan() == (0, 0.0)
    assert not control.check_lease(1036.0)
    assert control.lease_state(1036.0)["lease_expired"] and control.lease_state(1036.0)["lease_left_s"] == 0.0
    control.set_rate(30.0, 20.0, now=1040.0)  # the ramp (or the next one) asks again: the rate is back
    assert control.target_qps == 30.0 and not control.lease_state(1040.0)["lease_expired"]


def test_a_rate_without_a_lease_holds_until_changed_and_clears_an_earlier_lease(shop):
    control = shop.RateControl()
    control.set_rate(40.0, 5.0, now=0.0)
    control.set_rate(50.0, None, now=1.0)
    assert not control.check_lease(10**9) and control.target_qps == 50.0
    assert control.lease_state(2.0)["lease_left_s"] is None


def test_the_shape_stops_the_load_when_the_lease_runs_out_and_logs_it(shop, monkeypatch, caplog):
    spawned = []
    monkeypatch.setattr(shop.gevent, "spawn", lambda fn, *args: spawned.append((fn, args)))
    monkeypatch.setattr(shop, "control", shop.RateControl())
    now = [1000.0]
    monkeypatch.setattr(shop.time, "time", lambda: now[0])
    shape = shop.RateShape()
    shape.runner = FakeRunner()
    shop.control.set_rate(10.0, 20.0, now=now[0])
    assert shape.tick()[0] == 5
    now[0] += 21
    with caplog.at_level("WARNING", logger="loadstack.shop"):
        assert shape.tick()[0] == 0
        shape.tick()
    logged = [r.getMessage() for r in caplog.records if "rate lease expired" in r.getMessage()]
    assert logged == ["rate lease expired: no renewal from the ramp in 20 s; load stopped"]
    assert spawned == []  # a standing master only drops to 0


def test_a_ramps_own_master_quits_when_the_lease_runs_out(shop, monkeypatch):
    spawned = []
    monkeypatch.setattr(shop.gevent, "spawn", lambda fn, *args: spawned.append((fn, args)))
    monkeypatch.setattr(shop, "control", shop.RateControl())
    shop.control.quit_on_lease_expiry = True
    runner = FakeRunner()
    shop.control.set_rate(10.0, 5.0, now=100.0)
    assert not shop.expire_lease(runner, now=104.0) and spawned == []
    assert shop.expire_lease(runner, now=105.0)
    assert spawned == [(shop._quit, (runner,))]  # its own greenlet: quitting kills the runner's greenlets
    assert not shop.expire_lease(runner, now=106.0) and len(spawned) == 1
