"""A real Locust master and worker against a stand-in target that counts arrivals: the asked rate
arrives, the Locust source's windows agree with the server, drain stops traffic, close stops all."""

from __future__ import annotations

import time

import pytest

from loadstack.locust.cluster import LocustCluster
from loadstack.metrics.locust import LocustSource
from loadstack.ramp.traffic import TrafficDriverError

pytestmark = pytest.mark.integration

TOLERANCE = 0.03


def hold(driver, target, qps: float, seconds: float) -> float:
    """Ask for `qps`, let it settle, return the rate that arrived at the server over `seconds`."""
    assert driver.set_rate(qps) == pytest.approx(qps)
    time.sleep(driver.settle_s + 0.5)
    start = time.time()
    time.sleep(seconds)
    end = time.time()
    return target.arrived(start, end) / (end - start)


def test_asked_rates_arrive_and_the_source_agrees_with_the_server(standin_target, start_driver):
    driver = start_driver(standin_target.url)
    source = LocustSource(url=driver.url, window_s=10)
    arrived = {20: hold(driver, standin_target, 20, 4.0), 60: hold(driver, standin_target, 60, 3.0)}
    for qps, rate in arrived.items():
        assert rate == pytest.approx(qps, rel=TOLERANCE), f"asked {qps} QPS, the server saw {rate:.1f}"
    assert driver.applied_rate() == pytest.approx(60)

    changed_at = time.time()
    assert driver.set_rate(150) == pytest.approx(150)
    # The first window that starts after the change settled: the server's count over the same span.
    deadline = time.time() + 25
    sample = None
    while time.time() < deadline:
        sample = source.read(time.time())
        if sample is not None and sample.at >= changed_at + driver.settle_s:
            break
        time.sleep(0.5)
    assert sample is not None and sample.at >= changed_at + driver.settle_s, source.last_problem
    window_start, window_end = source.last_window
    assert window_start == sample.at and window_end - window_start >= 10
    server_rate = standin_target.arrived(window_start, window_end) / (window_end - window_start)
    assert server_rate == pytest.approx(150, rel=TOLERANCE), f"asked 150 QPS, the server saw {server_rate:.1f}"
    assert sample.qps == pytest.approx(server_rate, rel=TOLERANCE)
    assert sample.error_ratio == 0.0
    assert 0 <= sample.p50_ms <= sample.p95_ms <= sample.p99_ms < 1000
    assert time.time() - sample.at <= source.lag_s + 3  # its age is what the source announces


def test_drain_stops_traffic_and_close_leaves_no_process(standin_target, start_driver):
    driver = start_driver(standin_target.url, workers=2)
    assert hold(driver, standin_target, 100, 3.0) == pytest.approx(100, rel=TOLERANCE)
    driver.drain()
    time.sleep(driver.settle_s + 0.5)
    start = time.time()
    time.sleep(2.0)
    assert standin_target.arrived(start, time.time()) == 0
    assert driver.applied_rate() == 0

    processes = driver.cluster.processes()
    pids = [p.pid() for p in processes]
    assert len(pids) == 3 and None not in pids  # a master and two workers
    # Starting again in the same run directory (a retried task) finds the running processes.
    again = LocustCluster(run_dir=driver.cluster.run_dir, target_url=standin_target.url, workers=2)
    assert again.start() == driver.url
    assert [p.pid() for p in again.processes()] == pids
    driver.close()
    assert [p.pid() for p in processes] == [None, None, None]
    assert not list(driver.cluster.run_dir.glob("*.pid"))
    with pytest.raises(TrafficDriverError, match="closed"):
        driver.set_rate(10)


def test_a_master_that_died_is_a_clear_error(standin_target, start_driver):
    driver = start_driver(standin_target.url)
    driver.cluster.master_process().stop()
    with pytest.raises(TrafficDriverError, match=r"setting 10 QPS failed: Locust master .* did not answer"):
        driver.set_rate(10)
    source = LocustSource(url=driver.url)
    assert source.read(time.time()) is None and "did not answer" in source.last_problem
    driver.close()  # nothing left to drain: stops the worker without an error
    assert not any(p.is_running() for p in driver.cluster.processes())
