"""The HAProxy shift driver on a real haproxy: the share of requests reaching the stack's pool follows the
weight the driver sets and reads back; a stack server that fails its checks takes its share out of the
applied rate; drain puts everything on production; a missing server or a stopped proxy is a clear error."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from loadstack.haproxy.config import BACKEND
from loadstack.ramp.traffic import TrafficDriverError
from loadstack.shift.haproxy import HAProxyShiftDriver

pytestmark = pytest.mark.integration

# With 256 live QPS one unit of weight is exactly 1 QPS: the rate asked is the stack's weight.
LIVE_QPS = 256.0
# Two whole cycles of the 256 units of weight: smooth weighted round robin is exact over whole cycles.
REQUESTS = 512


def _send(url: str, count: int, connections: int = 8) -> Counter:
    """Which server answered each of `count` requests, over a few keep-alive connections at once (HAProxy
    balances every request, whatever its connection; one connection alone waits on each small response)."""

    def send(share: int) -> Counter:
        with httpx.Client(base_url=url, timeout=5) as client:
            return Counter(client.get("/work").raise_for_status().text for _ in range(share))

    shares = [count // connections + (1 if i < count % connections else 0) for i in range(connections)]
    with ThreadPoolExecutor(max_workers=connections) as pool:
        return sum(pool.map(send, shares), Counter())


def _driver(shift_proxy, **kwargs) -> HAProxyShiftDriver:
    arguments = {
        "runtime": shift_proxy.proxy.runtime_api(),
        "backend": BACKEND,
        "production_servers": shift_proxy.production,
        "stack_servers": shift_proxy.stack,
        "live_qps": LIVE_QPS,
        **kwargs,
    }
    return HAProxyShiftDriver(**arguments)


def test_the_stack_share_follows_the_weight_read_back_from_haproxy(shift_proxy):
    driver = _driver(shift_proxy)
    api = shift_proxy.proxy.runtime_api()
    # The config's weights (100 each) before any shift: a third of the live traffic on the stack.
    assert driver.applied_rate() == pytest.approx(LIVE_QPS / 3)

    for wanted, stack_weight in ((64.0, 64), (128.0, 128), (20.4, 20), (300.0, 255)):
        assert driver.set_rate(wanted) == pytest.approx(stack_weight)
        assert driver.applied_rate() == pytest.approx(stack_weight)
        weights = {row.name: row.weight for row in api.servers(BACKEND)}
        assert weights["s1"] == stack_weight and weights["p1"] + weights["p2"] == 256 - stack_weight
        selected_before = {row.name: row.selected_total for row in api.servers(BACKEND)}

        answered = _send(shift_proxy.url, REQUESTS)

        expected = REQUESTS * stack_weight / 256
        assert abs(answered["s1"] - expected) <= 2, (wanted, dict(answered))
        assert answered["p1"] + answered["p2"] + answered["s1"] == REQUESTS
        # HAProxy's own counters agree with what the client saw.
        selected = {row.name: row.selected_total - selected_before[row.name] for row in api.servers(BACKEND)}
        assert selected == {name: answered[name] for name in selected}

    assert driver.last is not None and driver.last.clamped  # 300 of 256 live QPS: production kept 1 unit
    assert api.get_weight(BACKEND, "p1") == 1 and api.get_weight(BACKEND, "p2") == 0

    driver.drain()
    assert {row.name: row.weight for row in api.servers(BACKEND)} == {"p1": 128, "p2": 128, "s1": 0}
    assert driver.applied_rate() == 0.0
    assert _send(shift_proxy.url, 64) == {"p1": 32, "p2": 32}


def test_a_stack_server_failing_its_checks_takes_its_share_out_of_the_applied_rate(shift_proxy):
    driver = _driver(shift_proxy)
    assert driver.set_rate(128.0) == pytest.approx(128.0)
    shift_proxy.backends["s1"].fail_checks()
    api = shift_proxy.proxy.runtime_api()
    shift_proxy.wait_until(lambda: api.server(BACKEND, "s1").status == "DOWN", 10, "s1 DOWN")

    assert driver.applied_rate() == 0.0  # its weight is still 128, but HAProxy sends it nothing
    assert api.get_weight(BACKEND, "s1") == 128
    assert set(_send(shift_proxy.url, 20)) <= {"p1", "p2"}
    assert driver.set_rate(64.0) == 0.0  # the weights took, and the rate says what they really send

    shift_proxy.backends["s1"].fail_checks(False)
    shift_proxy.wait_until(shift_proxy.all_up, 10, "s1 UP again")
    assert driver.applied_rate() == pytest.approx(64.0)


def test_a_server_missing_from_the_backend_is_refused_before_any_weight_moves(shift_proxy):
    driver = _driver(shift_proxy, stack_servers=("s1", "s9"))
    with pytest.raises(TrafficDriverError, match=r"backend app has no server\(s\) s9 \(it has p1, p2, s1\)"):
        driver.set_rate(50.0)
    api = shift_proxy.proxy.runtime_api()
    assert {row.name: row.weight for row in api.servers(BACKEND)} == {"p1": 100, "p2": 100, "s1": 100}


def test_a_stopped_proxy_is_an_error_naming_its_socket(shift_proxy):
    driver = _driver(shift_proxy)
    shift_proxy.proxy.stop()
    with pytest.raises(TrafficDriverError, match=r"HAProxy backend app: reading its servers through .*admin.sock"):
        driver.applied_rate()
    with pytest.raises(TrafficDriverError, match="is the proxy running"):
        driver.drain()
