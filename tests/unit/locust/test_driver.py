"""LocustDriver over a stand-in master API (the real master runs in tests/integration/locust)."""

from __future__ import annotations

import pytest

from loadstack.locust import driver as driver_module
from loadstack.locust.driver import LocustDriver
from loadstack.locust.master_api import LocustMasterBusy, LocustMasterError
from loadstack.ramp.traffic import TrafficDriverError


class FakeCluster:
    def __init__(self, *, owned=True, running=True):
        self.owned = owned
        self.url = "http://127.0.0.1:8601"
        self.running = running
        self.stops = 0

    def is_running(self):
        return self.running

    def stop(self, timeout=20):
        self.stops += 1
        return ["master"]


class FakeMaster:
    """The two routes' answers, as include/locust/shop.py gives them."""

    def __init__(self, monkeypatch):
        self.calls = []
        self.gone = False
        self.applied = 0.0
        monkeypatch.setattr(driver_module.master_api, "set_rate", self.set_rate)
        monkeypatch.setattr(driver_module.master_api, "rate_state", self.rate_state)

    def _check(self, url):
        if self.gone:
            raise LocustMasterError(f"Locust master {url}/loadstack/rate did not answer (refused)")

    def set_rate(self, url, qps, timeout=10):
        self._check(url)
        self.calls.append(qps)
        users = -(-int(qps * 1000) // 2000) if qps else 0
        return {"planned_users": users, "planned_user_qps": qps / users if users else 0.0}

    def rate_state(self, url, timeout=10):
        self._check(url)
        return {"applied_qps": self.applied, "workers": 1}


@pytest.fixture
def master(monkeypatch):
    return FakeMaster(monkeypatch)


def test_set_rate_posts_and_returns_the_planned_rate(master):
    driver = LocustDriver(cluster=FakeCluster())
    assert driver.set_rate(150) == pytest.approx(150)
    assert driver.set_rate(0) == 0
    assert master.calls == [150.0, 0.0]
    assert driver.settle_s >= 1.0  # at least the shape's tick


def test_applied_rate_is_read_back(master):
    driver = LocustDriver(cluster=FakeCluster())
    master.applied = 58.0
    assert driver.applied_rate() == 58.0


@pytest.mark.parametrize("qps", [-1, float("nan"), float("inf"), "10"])
def test_bad_rates_are_refused_before_asking(master, qps):
    with pytest.raises(ValueError, match="finite number >= 0"):
        LocustDriver(cluster=FakeCluster()).set_rate(qps)
    assert master.calls == []


def test_a_master_that_is_gone_is_a_clear_driver_error(master):
    driver = LocustDriver(cluster=FakeCluster())
    master.gone = True
    with pytest.raises(TrafficDriverError, match="setting 20 QPS failed: Locust master .* did not answer"):
        driver.set_rate(20)
    with pytest.raises(TrafficDriverError, match="reading the applied rate failed"):
        driver.applied_rate()


def test_close_drains_then_stops_what_it_started_once(master):
    cluster = FakeCluster()
    driver = LocustDriver(cluster=cluster)
    driver.set_rate(60)
    driver.close()
    driver.close()
    assert master.calls == [60.0, 0.0] and cluster.stops == 1
    with pytest.raises(TrafficDriverError, match="closed"):
        driver.set_rate(10)


def test_close_of_an_attached_master_drains_it_and_stops_nothing(master):
    cluster = FakeCluster(owned=False)
    cluster.stop = lambda timeout=20: pytest.fail("an attached master must not be stopped")
    LocustDriver(cluster=cluster).close()
    assert master.calls == [0.0]


def test_close_stops_our_processes_even_when_the_master_died(master):
    cluster = FakeCluster(running=False)
    master.gone = True
    LocustDriver(cluster=cluster).close()  # nothing to drain: no error
    assert cluster.stops == 1


def test_draining_an_attached_master_that_is_gone_fails_clearly(master):
    master.gone = True
    with pytest.raises(TrafficDriverError, match="draining failed"):
        LocustDriver(cluster=FakeCluster(owned=False)).drain()


class Retargeting:
    """POST /loadstack/target answering 503 (users still draining) `busy` times, then taking the host."""

    def __init__(self, monkeypatch, busy):
        self.busy = busy
        self.calls = []
        monkeypatch.setattr(driver_module.master_api, "set_target", self.set_target)
        monkeypatch.setattr(driver_module.time, "sleep", lambda s: None)

    def set_target(self, url, host, timeout=10):
        self.calls.append(host)
        if len(self.calls) <= self.busy:
            raise LocustMasterBusy(f"Locust master {url}/loadstack/target answered HTTP 503: draining")
        return {"host": host.rstrip("/")}


def test_attach_points_the_master_at_the_ramps_app_once_it_drained(master, monkeypatch):
    target = Retargeting(monkeypatch, busy=2)
    driver = LocustDriver.attach("http://127.0.0.1:8601", target_url="http://127.0.0.1:9000/", workers=1)
    assert target.calls == ["http://127.0.0.1:9000/"] * 3
    assert not driver.cluster.owned


def test_attach_gives_up_on_a_master_that_never_drains(master, monkeypatch):
    target = Retargeting(monkeypatch, busy=10**6)
    with pytest.raises(TrafficDriverError, match="503: draining"):
        LocustDriver.attach("http://127.0.0.1:8601", target_url="http://127.0.0.1:9000", target_timeout_s=0)
    assert len(target.calls) == 1
