"""The ramp controller on the simulator: does it hold the band, and how fast does it abort, as the metrics lag?

No services: `run_ramp` drives the controller over `loadstack.ramp.simulator` on a fake clock, for metric
delays of 0, 10 and 30 s (beyond the 10 s rate window), with Poisson-like noise and drifting organic
traffic, over several seeds per delay. For each delay:

- time to band: from the start to the hold's start (settled in the band);
- share of the hold in band: samples in [low, high watermark] among the samples of the hold;
- samples above the high watermark: over the whole ramp, every sample the controller saw;
- abort latency: a second run of the same seed with a 30 % error burst injected mid-hold, from the
  burst's start to the abort decision (the rule is "error_ratio > 0.05 for 5 s"), and the traffic drained.

Targets (issue 8): in band >= 95 % of the hold, no sample above the high watermark, abort within one
bucket interval plus the metric delay, at every delay.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from loadstack.ramp.clock import FakeClock
from loadstack.ramp.control import MemoryControl
from loadstack.ramp.controller import RampController
from loadstack.ramp.params import AbortRule, RampParams
from loadstack.ramp.runner import run_ramp
from loadstack.ramp.simulator import PlantConfig, Simulator

DELAYS_S = (0.0, 10.0, 30.0)
BURST_ERROR_RATIO = 0.3
MAX_TICKS = 20_000


def params() -> RampParams:
    """One parameter set for every delay: the controller, not its settings, must cope with the lag."""
    return RampParams(
        target_qps=1000.0,
        threshold_qps=50.0,
        bucket_qps=10.0,
        bucket_group=10,
        group_interval_s=30.0,
        bucket_interval_s=10.0,
        hold_s=300.0,
        max_staleness_s=60.0,
        no_data_limit_s=120.0,
        organic_qps=200.0,
        abort_rules=(
            AbortRule("error_ratio", 0.05, 5.0),
            AbortRule("error_ratio", 0.5, 0.0),
            AbortRule("p99_ms", 1000.0, 10.0),
        ),
        max_duration_s=3600.0,
    )


def plant(seed: int, delay_s: float) -> PlantConfig:
    return PlantConfig(seed=seed, delay_s=delay_s, organic_qps=200.0, knee_qps=1500.0)


def _run(seed: int, delay_s: float, burst_at: float | None = None) -> dict[str, Any]:
    p = params()
    clock = FakeClock()
    sim = Simulator(plant(seed, delay_s), clock)
    if burst_at is not None:
        sim.inject_error_burst(burst_at, error_ratio=BURST_ERROR_RATIO)
    controller = RampController(p)
    outcome = run_ramp(
        controller, sim.driver, sim.source, MemoryControl(), clock, lambda state: None, max_ticks=MAX_TICKS
    )
    timeline = controller.state.timeline
    hold = next((d for d in timeline.decisions if d.action == "hold_started"), None)
    end = next((d for d in timeline.decisions if d.action in ("done", "abort", "terminate")), None)
    samples = [s for s in timeline.samples if s.qps is not None]
    result: dict[str, Any] = {
        "seed": seed,
        "succeeded": outcome.succeeded,
        "reason": outcome.reason,
        "start": sim.start,
        "hold_started_at": hold.at if hold else None,
        "end_at": end.at if end else None,
        "drained": sim.driver.applied_rate() == 0.0,
        "samples": len(samples),
        "above_high": sum(1 for s in samples if s.qps > p.high_watermark),
        "max_qps": max((s.qps for s in samples), default=None),
        "time_to_band_s": (hold.at - sim.start) if hold else None,
    }
    if hold is not None and end is not None and end.action == "done":
        hold_from, hold_to = controller.state.hold_started_at, end.sample_at
        in_hold = [s for s in samples if hold_from <= s.at <= hold_to]
        in_band = [s for s in in_hold if p.low_watermark <= s.qps <= p.high_watermark]
        result["hold_samples"] = len(in_hold)
        result["in_band_share"] = len(in_band) / len(in_hold) if in_hold else None
    if burst_at is not None:
        result["burst_at"] = burst_at
        result["abort_latency_s"] = (end.at - burst_at) if end is not None and end.action == "abort" else None
        result["abort_reason"] = outcome.reason
    return result


def bench_ramp(seeds: int = 20) -> dict[str, Any]:
    p = params()
    per_delay = []
    started = time.perf_counter()
    for delay in DELAYS_S:
        normal, bursts = [], []
        for seed in range(1, seeds + 1):
            run = _run(seed, delay)
            normal.append(run)
            # The same seed again (the plant is deterministic, so identical up to the burst), burst mid-hold.
            if run["hold_started_at"] is not None:
                bursts.append(_run(seed, delay, burst_at=run["hold_started_at"] + p.hold_s / 2))
        to_band = [r["time_to_band_s"] for r in normal if r["time_to_band_s"] is not None]
        shares = [r["in_band_share"] for r in normal if r.get("in_band_share") is not None]
        latencies = [r["abort_latency_s"] for r in bursts if r["abort_latency_s"] is not None]
        latency_target = p.bucket_interval_s + delay
        per_delay.append(
            {
                "delay_s": delay,
                "lag_s": delay + plant(1, delay).window_s,
                "runs": len(normal),
                "succeeded": sum(r["succeeded"] for r in normal),
                "time_to_band_median_s": round(statistics.median(to_band), 1) if to_band else None,
                "time_to_band_max_s": round(max(to_band), 1) if to_band else None,
                "in_band_share_min": round(min(shares), 4) if shares else None,
                "in_band_share_mean": round(statistics.mean(shares), 4) if shares else None,
                "samples_above_high": sum(r["above_high"] for r in normal + bursts),
                "samples_total": sum(r["samples"] for r in normal + bursts),
                "max_qps_over_high": round(max(r["max_qps"] for r in normal) / p.high_watermark, 4),
                "abort_runs": len(bursts),
                "aborted": len(latencies),
                "all_drained": all(r["drained"] for r in normal + bursts),
                "abort_latency_median_s": round(statistics.median(latencies), 1) if latencies else None,
                "abort_latency_max_s": round(max(latencies), 1) if latencies else None,
                "abort_latency_target_s": latency_target,
                "abort_reason_example": bursts[0]["abort_reason"] if bursts else None,
                "targets_met": bool(
                    shares
                    and len(shares) == len(normal)
                    and min(shares) >= 0.95
                    and sum(r["above_high"] for r in normal + bursts) == 0
                    and latencies
                    and len(latencies) == len(bursts)
                    and max(latencies) <= latency_target
                ),
            }
        )
    controller = RampController(p)
    return {
        "params": p.to_json(),
        "controller": {
            "noise_sigmas": controller.noise_sigmas,
            "level_span_s": controller.level_span_s,
            "trend_span_s": controller.trend_span_s,
        },
        "plant": {k: v for k, v in plant(1, 0).__dict__.items() if k not in ("seed", "delay_s")},
        "seeds": seeds,
        "burst_error_ratio": BURST_ERROR_RATIO,
        "delays": per_delay,
        "seconds": round(time.perf_counter() - started, 1),
    }


def table_rows(result: dict[str, Any]) -> list[str]:
    """Markdown rows `| measure | result | target |` (no header: they join bench.__main__'s table)."""
    p = result["params"]
    title = (
        f"| ramp on the simulator ({result['seeds']} seeds per delay; target {p['target_qps']:g} ± "
        f"{p['threshold_qps']:g} QPS, bucket {p['bucket_qps']:g}, hold {p['hold_s']:g} s, 10 s rate window, noise, "
        f"drifting organic traffic) | | |"
    )
    rows = [title]
    for d in result["delays"]:
        delay = f"metric delay {d['delay_s']:g} s"
        rows += [
            f"| {delay}: time to band (median / max) | {d['time_to_band_median_s']} / {d['time_to_band_max_s']} s | |",
            f"| {delay}: share of the hold in band (worst run) | **{100 * d['in_band_share_min']:.1f} %** | ≥ 95 % |"
            if d["in_band_share_min"] is not None
            else f"| {delay}: share of the hold in band | no hold completed | ≥ 95 % |",
            (
                f"| {delay}: samples above the high watermark (of {d['samples_total']}) | "
                f"**{d['samples_above_high']}** (highest {100 * d['max_qps_over_high']:.1f} % of it) | 0 |"
            ),
            (
                f"| {delay}: abort latency after a {100 * result['burst_error_ratio']:g} % error burst (median / max) | "
                f"{d['abort_latency_median_s']} / **{d['abort_latency_max_s']} s**, {d['aborted']} of "
                f"{d['abort_runs']} aborted, drained: {'yes' if d['all_drained'] else 'NO'} | "
                f"≤ {d['abort_latency_target_s']:g} s |"
            ),
        ]
    return rows
