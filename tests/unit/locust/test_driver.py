"""LocustDriver over a stand-in master API (the real master runs in tests/integration/locust)."""

from __future__ import annotations

import pytest

from loadstack.locust import driver as driver_module
from loadstack.locust.driver import LEASE_S, LocustDriver, WorkerLost
from loadstack.locust.master_api import LocustMasterBusy, LocustMasterError
from loadstack.ramp.traffic import TrafficDriverError


class FakeCluster:
    def __init__(self, *, owned=True, running=True, workers=1):
        self.owned = owned
        self.url = "http://127.0.0.1:8601"
        self.running = running
        self.stops = 0
        self.workers = workers
        self.lost = []  # what lost_workers() names

    def lost_workers(self):
        return list(self.lost)

    def master_process(self):
        cluster = self

        class Master:
            def is_running(self):
                return cluster.running

            def log_tail(self):
                return "Shutting down (exit code 0)"

        return Master()

    def is_running(self):
        return self.running

    def stop(self, timeout=20):
        self.stops += 1
        return ["master"]


class FakeMaster:
    """The two routes' answers, as include/locust/shop.py gives them."""

    def __init__(self, monkeypatch):
        self.calls = []
        self.leases = []  # the lease_s of each POST, in order
        self.gone = False
        self.applied = 0.0
        self.workers = 1
        self.missing = []
        monkeypatch.setattr(driver_module.master_api, "set_rate", self.set_rate)
        monkeypatch.setattr(driver_module.master_api, "rate_state", self.rate_state)

    def _check(self, url):
        if self.gone:
            raise LocustMasterError(f"Locust master {url}/loadstack/rate did not answer (refused)")

    def set_rate(self, url, qps, timeout=10, lease_s=None):
        self._check(url)
        self.calls.append(qps)
        self.leases.append(lease_s)
        users = -(-int(qps * 1000) // 2000) if qps else 0
        return {"planned_users": users, "planned_user_qps": qps / users if users else 0.0,
                "workers": self.workers, "missing_workers": list(self.missing)}

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


# --- the rate lease ----------------------------------------------------------------------------------
class FakeMonotonic:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_a_driver_never_kept_alive_sends_no_lease(master):
    driver = LocustDriver(cluster=FakeCluster())  # a script or a test setting rates by hand
    driver.set_rate(30)
    driver.set_rate(0)
    assert master.leases == [None, None]


def test_once_kept_alive_every_rate_goes_with_the_lease_and_the_drain_with_none(master):
    driver = LocustDriver(cluster=FakeCluster(), lease_s=12)
    driver.keep_alive()  # run_ramp's promise to renew, before its first tick: nothing to post yet
    assert master.calls == []
    driver.set_rate(30)
    driver.set_rate(0)  # a rate of 0 asked by the ramp is still leased: the ramp still watches it
    driver.drain()
    assert master.calls == [30.0, 0.0, 0.0] and master.leases == [12, 12, None]
    assert LocustDriver(cluster=FakeCluster()).lease_s == LEASE_S == 20.0  # the default


def test_keep_alive_renews_the_current_rate_once_a_third_of_the_lease_has_passed(master):
    clock = FakeMonotonic()
    driver = LocustDriver(cluster=FakeCluster(), lease_s=15, monotonic=clock)
    driver.keep_alive()  # nothing asked yet: nothing to renew
    assert master.calls == []
    driver.set_rate(40)
    for _ in range(4):  # ticks within the first third (5 s): no post
        clock.now += 1.2
        driver.keep_alive()
    assert master.calls == [40.0]
    clock.now += 0.3  # 5.1 s since the post
    driver.keep_alive()
    assert master.calls == [40.0, 40.0] and master.leases == [15, 15]
    clock.now += 4.9
    driver.keep_alive()
    assert master.calls == [40.0, 40.0]  # counted from the renewal
    clock.now += 0.2
    driver.keep_alive()
    assert master.calls == [40.0] * 3


def test_a_rate_asked_before_the_first_keep_alive_is_leased_by_it(master):
    driver = LocustDriver(cluster=FakeCluster(), lease_s=9, monotonic=FakeMonotonic())
    driver.set_rate(10)
    driver.keep_alive()
    assert master.calls == [10.0, 10.0] and master.leases == [None, 9]


def test_a_new_rate_restarts_the_renewal_count_and_a_drain_ends_the_renewals(master):
    clock = FakeMonotonic()
    driver = LocustDriver(cluster=FakeCluster(), lease_s=9, monotonic=clock)
    driver.keep_alive()
    driver.set_rate(10)
    clock.now += 2.5
    driver.set_rate(20)
    clock.now += 2.5  # 5 s after the first post, 2.5 s after the second
    driver.keep_alive()
    assert master.calls == [10.0, 20.0]
    clock.now += 1
    driver.keep_alive()
    assert master.calls == [10.0, 20.0, 20.0]  # the rate renewed is the current one
    driver.drain()
    clock.now += 100
    driver.keep_alive()
    assert master.calls == [10.0, 20.0, 20.0, 0.0]


def test_without_a_lease_keep_alive_never_posts(master):
    clock = FakeMonotonic()
    driver = LocustDriver(cluster=FakeCluster(), lease_s=None, monotonic=clock)
    driver.set_rate(10)
    clock.now += 3600
    driver.keep_alive()
    assert master.calls == [10.0] and master.leases == [None]


def test_a_renewal_the_master_refuses_is_a_driver_error(master):
    clock = FakeMonotonic()
    driver = LocustDriver(cluster=FakeCluster(), lease_s=3, monotonic=clock)
    driver.keep_alive()
    driver.set_rate(10)
    master.gone = True
    clock.now += 1.5
    with pytest.raises(TrafficDriverError, match="renewing the lease on 10 QPS failed: .* did not answer"):
        driver.keep_alive()


@pytest.mark.parametrize("lease_s", [0, -1, float("nan"), float("inf")])
def test_a_bad_lease_is_refused(lease_s):
    with pytest.raises(ValueError, match="lease_s"):
        LocustDriver(cluster=FakeCluster(), lease_s=lease_s)


# --- lost workers ------------------------------------------------------------------------------------
def test_a_worker_process_that_exited_fails_the_next_keep_alive_naming_it(master):
    cluster = FakeCluster(workers=2)
    master.workers = 2
    driver = LocustDriver(cluster=cluster, monotonic=FakeMonotonic())
    driver.set_rate(40)
    driver.keep_alive()
    cluster.lost = ["Locust worker 1 (PID 4242, exited; log /tmp/x/worker-1.out)"]
    with pytest.raises(WorkerLost, match=r"lost Locust worker 1 \(PID 4242.* of the 2 worker\(s\)"):
        driver.keep_alive()  # every tick, not only at renewals
    assert isinstance(WorkerLost("x"), TrafficDriverError)  # run_ramp drains on it like on any driver error


def test_a_master_with_fewer_workers_than_started_fails_the_rate_naming_the_lost_one(master):
    master.workers, master.missing = 1, ["host_abc123"]
    driver = LocustDriver(cluster=FakeCluster(owned=False, workers=2))
    with pytest.raises(WorkerLost, match=r"has 1 of the 2 worker\(s\).*\(lost: host_abc123\)"):
        driver.set_rate(40)


def test_a_master_with_more_workers_than_asked_is_fine(master):
    master.workers = 3
    assert LocustDriver(cluster=FakeCluster(owned=False, workers=2)).set_rate(40) == pytest.approx(40)


def test_workers_gone_with_their_master_report_the_master(master):
    cluster = FakeCluster()
    driver = LocustDriver(cluster=cluster, monotonic=FakeMonotonic())
    driver.keep_alive()
    driver.set_rate(10)
    cluster.running, cluster.lost = False, ["Locust worker 0 (PID 7, exited; log w.out)"]
    with pytest.raises(TrafficDriverError, match="the Locust master exited") as caught:
        driver.keep_alive()
    assert not isinstance(caught.value, WorkerLost)
