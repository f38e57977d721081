"""A real haproxy in front of real HTTP backends: weights move the split, drain and maint empty a server,
failed health checks take it out, show stat counts what was sent, the exporter answers, stop is by PID."""

from __future__ import annotations

import time
from collections import Counter

import httpx
import pytest

from loadstack.haproxy.config import BACKEND, HAProxyConfigError
from loadstack.haproxy.runtime import RuntimeAPIError
from loadstack.haproxy.server import HAProxyServer
from loadstack.supervisor import pid_alive

pytestmark = pytest.mark.integration


def _send(url: str, count: int) -> Counter:
    """Which backend answered each of `count` requests (one connection: HAProxy balances each request)."""
    with httpx.Client(base_url=url, timeout=5) as client:
        return Counter(client.get("/work").raise_for_status().text for _ in range(count))


def _wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout} s")
        time.sleep(0.1)


def _all_up(proxy: HAProxyServer) -> bool:
    return all(row.is_up for row in proxy.servers())


def test_weights_move_the_split_and_show_stat_counts_it(proxy):
    api = proxy.runtime_api()
    _wait_for(lambda: _all_up(proxy), 10, "both servers UP")
    assert [(r.proxy, r.name, r.weight) for r in api.servers()] == [(BACKEND, "a", 100), (BACKEND, "b", 100)]
    before = {r.name: r.selected_total for r in api.servers(BACKEND)}

    assert _send(proxy.config.url, 100) == {"a": 50, "b": 50}

    api.set_weights(BACKEND, {"a": 30, "b": 10})
    assert (api.get_weight(BACKEND, "a"), api.get_weight(BACKEND, "b")) == (30, 10)
    # Smooth weighted round robin: exact over whole cycles of 40, with no reload.
    assert _send(proxy.config.url, 200) == {"a": 150, "b": 50}

    after = {r.name: r for r in api.servers(BACKEND)}
    assert {name: row.selected_total - before[name] for name, row in after.items()} == {"a": 200, "b": 100}
    assert after["a"].weight == 30 and after["a"].responses["2xx"] >= 200

    api.set_weight(BACKEND, "b", 0)
    assert _send(proxy.config.url, 20) == {"a": 20}


def test_bad_weights_and_names_are_refused_naming_them(proxy):
    api = proxy.runtime_api()
    with pytest.raises(HAProxyConfigError, match="257"):
        api.set_weight(BACKEND, "a", 257)
    with pytest.raises(HAProxyConfigError, match="weight of b"):
        api.set_weights(BACKEND, {"a": 10, "b": -1})
    assert api.get_weight(BACKEND, "a") == 100  # nothing was sent for the refused batch
    with pytest.raises(RuntimeAPIError, match="app/nosuch.*No such server"):
        api.set_weight(BACKEND, "nosuch", 5)
    with pytest.raises(HAProxyConfigError, match="not an HAProxy name"):
        api.set_weight(BACKEND, "a;shutdown", 5)
    with pytest.raises(RuntimeAPIError, match="no server app/nosuch"):
        api.server(BACKEND, "nosuch")


def test_drain_and_maint_take_a_server_out_and_ready_brings_it_back(proxy):
    api = proxy.runtime_api()
    _wait_for(lambda: _all_up(proxy), 10, "both servers UP")
    api.set_state(BACKEND, "a", "drain")
    assert api.server(BACKEND, "a").status == "DRAIN" and api.get_weight(BACKEND, "a") == 100  # kept for ready
    assert _send(proxy.config.url, 20) == {"b": 20}
    api.set_state(BACKEND, "a", "ready")
    assert _send(proxy.config.url, 20) == {"a": 10, "b": 10}
    api.set_state(BACKEND, "b", "maint")
    assert api.server(BACKEND, "b").status == "MAINT"
    assert _send(proxy.config.url, 10) == {"a": 10}
    with pytest.raises(ValueError, match="sleep"):
        api.set_state(BACKEND, "b", "sleep")


def test_a_failing_health_check_takes_the_server_out(proxy, backends):
    _wait_for(lambda: _all_up(proxy), 10, "both servers UP")
    backends[0].fail_checks()
    down = _wait_for(lambda: [r for r in proxy.servers() if r.status == "DOWN"], 10, "server a DOWN")
    assert [r.name for r in down] == ["a"] and "503" in down[0].check
    assert _send(proxy.config.url, 10) == {"b": 10}
    backends[0].fail_checks(False)
    _wait_for(lambda: _all_up(proxy), 10, "server a UP again")


def test_the_exporter_serves_server_metrics(proxy):
    _send(proxy.config.url, 4)
    text = httpx.get(proxy.config.exporter_url, timeout=5).raise_for_status().text
    assert 'haproxy_server_sessions_total{proxy="app",server="a"}' in text
    assert httpx.get(proxy.config.exporter_url.replace("/metrics", "/other"), timeout=5).status_code == 404


def test_stop_is_by_pid_from_the_directory_alone(proxy):
    pid = proxy.pid()
    assert pid is not None and proxy.start() == pid  # a running proxy is left as is
    again = HAProxyServer(proxy.base_dir)  # no config: stopping needs none
    assert again.stop() is True
    assert not pid_alive(pid) and not proxy.socket_path.exists() and not proxy.pid_path.exists()
    assert again.stop() is False
