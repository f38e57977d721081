"""loadstack.shift.haproxy without a proxy: spreading a pool's weight, checked pools, and the error paths a
real HAProxy will not produce on demand (a weight that does not take). The real proxy: tests/integration/shift."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadstack.haproxy.config import HAProxyConfigError
from loadstack.haproxy.runtime import RuntimeAPIError, StatRow
from loadstack.ramp.clock import FakeClock
from loadstack.ramp.controller import RampController
from loadstack.ramp.params import RampParams
from loadstack.ramp.runner import run_ramp
from loadstack.ramp.samples import MetricSource, Sample
from loadstack.ramp.traffic import TrafficDriverError
from loadstack.shift.haproxy import SETTLE_S, HAProxyShiftDriver, spread, takes_traffic


class FakeRuntime:
    """The two calls the driver makes, on a dict of servers; `stuck` servers ignore `set weight`."""

    socket_path = Path("/run/lb/admin.sock")

    def __init__(self, weights: dict[str, int], *, stuck: tuple[str, ...] = (), status: dict[str, str] | None = None):
        self.weights = dict(weights)
        self.stuck = stuck
        self.status = status or {}
        self.sent: list[dict[str, int]] = []

    def set_weights(self, backend: str, weights: dict[str, int]) -> None:
        self.sent.append(dict(weights))
        for name, weight in weights.items():
            if name not in self.stuck:
                self.weights[name] = weight

    def servers(self, backend: str) -> list[StatRow]:
        return [
            StatRow(backend, name, "server", {"weight": str(weight), "status": self.status.get(name, "UP")})
            for name, weight in self.weights.items()
        ]


def _driver(runtime, live_qps: float = 256.0) -> HAProxyShiftDriver:
    return HAProxyShiftDriver(
        runtime=runtime, backend="app", production_servers=["p1", "p2"], stack_servers=["s1"], live_qps=live_qps
    )


def test_spread_is_even_with_the_remainder_on_the_first_servers():
    assert spread(10, ["a", "b", "c"]) == {"a": 4, "b": 3, "c": 3}
    assert spread(1, ["a", "b"]) == {"a": 1, "b": 0}
    assert spread(0, ["a"]) == {"a": 0}
    # Every server moves the same way as the pool's total: no server is lowered while another is raised.
    for total in range(256):
        before, after = spread(total, ["a", "b", "c"]), spread(total + 1, ["a", "b", "c"])
        assert all(after[name] >= before[name] for name in before)


def test_production_servers_are_written_first_and_sum_with_the_stack_to_256():
    runtime = FakeRuntime({"p1": 100, "p2": 100, "s1": 100})
    driver = _driver(runtime, live_qps=256.0)
    assert driver.set_rate(51.0) == pytest.approx(51.0)
    assert runtime.sent == [{"p1": 103, "p2": 102, "s1": 51}]
    assert list(runtime.sent[0]) == ["p1", "p2", "s1"]
    assert driver.settle_s == SETTLE_S == 0.5


def test_a_weight_that_did_not_take_is_an_error_naming_the_server():
    runtime = FakeRuntime({"p1": 128, "p2": 128, "s1": 0}, stuck=("s1",))
    with pytest.raises(TrafficDriverError, match=r"server s1 reports weight 0 after it was set to 26.*/run/lb/admin"):
        _driver(runtime).set_rate(26.0)


def test_a_runtime_that_refuses_or_is_gone_is_a_traffic_driver_error():
    class Refusing(FakeRuntime):
        def set_weights(self, backend, weights):
            raise RuntimeAPIError("haproxy refused 'set weight app/s1 26': No such server.")

    class Gone(FakeRuntime):
        def servers(self, backend):
            raise FileNotFoundError(2, "No such file or directory")

    with pytest.raises(TrafficDriverError, match=r"HAProxy backend app: setting weights .* No such server"):
        _driver(Refusing({"p1": 1, "p2": 1, "s1": 1})).set_rate(26.0)
    with pytest.raises(
        TrafficDriverError, match=r"reading its servers through /run/lb/admin.sock .*is the proxy running"
    ):
        _driver(Gone({})).applied_rate()


def test_applied_rate_counts_only_servers_that_take_traffic():
    runtime = FakeRuntime(
        {"p1": 100, "p2": 100, "s1": 56}, status={"p2": "DOWN", "s1": "UP 1/2"}
    )  # s1 is failing checks but still UP
    assert _driver(runtime, live_qps=156.0).applied_rate() == pytest.approx(56.0)
    runtime.status = {"p1": "MAINT", "p2": "DRAIN", "s1": "no check"}
    assert _driver(runtime, live_qps=156.0).applied_rate() == pytest.approx(156.0)
    runtime.status = {"s1": "DOWN"}
    assert _driver(runtime, live_qps=156.0).applied_rate() == 0.0
    row = StatRow("app", "x", "server", {"status": "DOWN 1/2"})  # coming back up: not yet
    assert not takes_traffic(row)


def test_a_server_missing_from_the_backend_is_named():
    runtime = FakeRuntime({"p1": 1, "s1": 1})
    with pytest.raises(TrafficDriverError, match=r"backend app has no server\(s\) p2 \(it has p1, s1\)"):
        _driver(runtime).applied_rate()


def test_the_live_estimate_is_the_split_s():
    driver = _driver(FakeRuntime({"p1": 64, "p2": 64, "s1": 128}), live_qps=100.0)
    assert driver.applied_rate() == pytest.approx(50.0)
    driver.live_qps = 300.0
    assert driver.split.live_qps == 300.0 and driver.applied_rate() == pytest.approx(150.0)


@pytest.mark.parametrize(
    "pools, error, message",
    [
        ({"production_servers": [], "stack_servers": ["s1"]}, ValueError, "production_servers is empty"),
        ({"production_servers": ["p1"], "stack_servers": ["s1", "s1"]}, ValueError, "names s1 more than once"),
        ({"production_servers": ["p1", "x"], "stack_servers": ["x"]}, ValueError, "x are in both pools"),
        ({"production_servers": ["p1;shutdown"], "stack_servers": ["s1"]}, HAProxyConfigError, "not an HAProxy name"),
    ],
)
def test_pools_are_checked(pools, error, message):
    with pytest.raises(error, match=message):
        HAProxyShiftDriver(runtime=FakeRuntime({}), backend="app", live_qps=10.0, **pools)


def test_a_whole_ramp_moves_weight_onto_the_stack_holds_and_drains_it_back():
    """The controller and its runner drive the shift as they drive generated load: the stack's traffic is the
    live traffic its weight sends, the ramp holds the band on it, and the end puts all weight on production."""
    live_qps = 400.0
    runtime = FakeRuntime({"p1": 100, "p2": 100, "s1": 100})
    driver = _driver(runtime, live_qps=live_qps)
    clock = FakeClock()
    levels: list[float] = []  # what the source saw, tick by tick

    class StackTraffic(MetricSource):
        """The stack's QPS as the weights HAProxy holds send it (no lag, no noise: the contract, not the plant)."""

        def read(self, now: float) -> Sample:
            weights = runtime.weights
            levels.append(live_qps * weights["s1"] / (weights["p1"] + weights["p2"] + weights["s1"]))
            return Sample(at=now, taken_at=now, qps=levels[-1], error_ratio=0.0, p99_ms=20.0)

    params = RampParams(
        target_qps=300.0,
        threshold_qps=15.0,
        bucket_qps=5.0,
        bucket_group=10,
        group_interval_s=5.0,
        bucket_interval_s=2.0,
        hold_s=30.0,
    )
    outcome = run_ramp(
        RampController(params),
        driver,
        StackTraffic(),
        None,
        clock,
        lambda state: None,
        max_ticks=2000,
    )
    assert outcome.succeeded and outcome.in_band_s >= params.hold_s, outcome.reason
    # The config's weights (a third, 133 QPS) first, then one bucket group (50 QPS: 32 of 256 units), then
    # up in stages into the band, never above it.
    assert levels[0] == pytest.approx(live_qps / 3) and levels[1] == 50.0
    assert max(levels) <= params.high_watermark
    assert sum(params.low_watermark <= level <= params.high_watermark for level in levels) >= params.hold_s
    assert runtime.weights == {"p1": 128, "p2": 128, "s1": 0}  # drained: everything back on production
