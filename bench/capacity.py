"""Capacity search on the simulator: does it find the plant's known capacity, how precisely, how fast, as metrics lag?

No services: `run_ramp` drives `loadstack.ramp.capacity.CapacitySearch` over `loadstack.ramp.simulator` on a
fake clock, on the ramp benchmark's plant (bench/ramp.py: a knee at 1500 QPS, 200 QPS of drifting organic
traffic, Poisson-like noise, a 10 s rate window) and its abort rules, for metric delays of 0, 10 and 30 s and
several seeds per delay.

Known capacity: the highest total QPS at which the plant's metrics, without noise, drift or lag, stay at or
under every rule's trip level (trip_fraction x its limit); computed by bisection on the simulator itself,
not written down. Found: the total QPS measured at the highest healthy level. For each delay:
- error: |found - known| / known, median and worst (target: within 2 %);
- precision: the width of the bracket the search ended with;
- time taken: simulated seconds from the first level to the drain, and the levels tried;
- knee: the level where a metric first rose, against the plant's knee;
- longest time above an abort limit: on the same plant without noise or drift (so the limit is a known
  rate), the longest a generated rate stayed above the rate at which some rule's metric reaches its
  limit, against one interval (settle + rate window + delay + a tick).

On the real app (`real_app_measures`, run by `python -m bench capacity_real` through the scheduler: the
shop_capacity demo stack): the capacity found, its bracket (the precision), the knee, how long the search
took and the levels it tried. The app's capacity is not known in advance: the numbers are what this machine
sustains.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from typing import Any

from bench.ramp import DELAYS_S
from bench.ramp import params as ramp_params
from bench.ramp import plant as ramp_plant
from loadstack.ramp.capacity import CapacityParams, CapacitySearch
from loadstack.ramp.clock import FakeClock
from loadstack.ramp.control import MemoryControl
from loadstack.ramp.runner import run_ramp
from loadstack.ramp.simulator import PlantConfig, Simulator, sustainable_demand

MAX_TICKS = 20_000
TICK_S = 1.0
TARGET_ERROR = 0.02


def params() -> CapacityParams:
    """One parameter set for every delay, on the ramp benchmark's abort rules."""
    return CapacityParams(
        start_qps=50.0,
        abort_rules=ramp_params().abort_rules,
        bucket_qps=1.0,
        trip_fraction=0.8,
        growth=2.0,
        precision_ratio=0.01,
        dwell_s=10.0,
        confirm_s=60.0,
        max_qps=5000.0,
        max_staleness_s=60.0,
        no_data_limit_s=120.0,
        max_duration_s=3600.0,
    )


def known_capacity(plant: PlantConfig, p: CapacityParams) -> float:
    return sustainable_demand(plant, p.abort_rules, p.trip_fraction)


def limit_demand(plant: PlantConfig, p: CapacityParams) -> float:
    return sustainable_demand(plant, p.abort_rules)


def _search(plant: PlantConfig, p: CapacityParams) -> tuple[CapacitySearch, Simulator, Any]:
    clock = FakeClock()
    sim = Simulator(plant, clock)
    search = CapacitySearch(p)
    outcome = run_ramp(search, sim.driver, sim.source, MemoryControl(), clock, lambda state: None, TICK_S,
                       max_ticks=MAX_TICKS)
    return search, sim, outcome


def _run(seed: int, delay_s: float, known: float) -> dict[str, Any]:
    p = params()
    search, sim, outcome = _search(ramp_plant(seed, delay_s), p)
    result = search.result(sim.clock.now())
    found = result.capacity_qps
    return {
        "seed": seed,
        "succeeded": outcome.succeeded,
        "reason": outcome.reason,
        "found_qps": round(found, 2) if found is not None else None,
        "error": abs(found - known) / known if found is not None else None,
        "precision_qps": result.precision_qps,
        "duration_s": result.duration_s,
        "levels": len(result.steps),
        "knee_qps": result.knee_qps,
        "knee_below_qps": result.knee_below_qps,
        "drained": sim.driver.applied_rate() == 0.0,
    }


def _longest_above_limit(delay_s: float) -> dict[str, Any]:
    """On the plant without noise or drift: the longest a generated rate stayed above a rule's abort limit."""
    p = params()
    quiet = dataclasses.replace(ramp_plant(1, delay_s), organic_swing_qps=0.0, organic_walk_qps=0.0, noise=0.0)
    limit_rate = limit_demand(quiet, p) - quiet.organic_qps
    _, sim, outcome = _search(quiet, p)
    calls = sim.driver.calls
    spans = [nxt[0] - at for (at, rate), nxt in zip(calls, calls[1:]) if rate > limit_rate]
    return {
        "quiet_succeeded": outcome.succeeded,
        "visits_above_limit": len(spans),
        "longest_above_limit_s": max(spans, default=0.0),
        "interval_s": quiet.settle_s + quiet.window_s + delay_s + TICK_S,
    }


def bench_capacity(seeds: int = 20) -> dict[str, Any]:
    p = params()
    started = time.perf_counter()
    per_delay = []
    for delay in DELAYS_S:
        plant = ramp_plant(1, delay)
        known = known_capacity(plant, p)
        runs = [_run(seed, delay, known) for seed in range(1, seeds + 1)]
        errors = [r["error"] for r in runs if r["error"] is not None]
        durations = [r["duration_s"] for r in runs if r["duration_s"] is not None]
        widths = [r["precision_qps"] for r in runs if r["precision_qps"] is not None]
        worst = max(runs, key=lambda r: r["error"] if r["error"] is not None else float("inf"))
        above = _longest_above_limit(delay)
        per_delay.append(
            {
                "delay_s": delay,
                "lag_s": delay + plant.window_s,
                "known_qps": round(known, 2),
                "plant_knee_qps": plant.knee_qps,
                "runs": len(runs),
                "succeeded": sum(r["succeeded"] for r in runs),
                "all_drained": all(r["drained"] for r in runs),
                "error_median": round(statistics.median(errors), 5) if errors else None,
                "error_max": round(max(errors), 5) if errors else None,
                "worst_seed": worst["seed"],
                "worst_found_qps": worst["found_qps"],
                "found_min_qps": min((r["found_qps"] for r in runs if r["found_qps"] is not None), default=None),
                "found_max_qps": max((r["found_qps"] for r in runs if r["found_qps"] is not None), default=None),
                "precision_median_qps": round(statistics.median(widths), 1) if widths else None,
                "precision_max_qps": round(max(widths), 1) if widths else None,
                "duration_median_s": round(statistics.median(durations), 1) if durations else None,
                "duration_max_s": round(max(durations), 1) if durations else None,
                "levels_median": statistics.median(r["levels"] for r in runs),
                "knee_median_qps": _median([r["knee_qps"] for r in runs]),
                "knee_below_median_qps": _median([r["knee_below_qps"] for r in runs]),
                **above,
                "targets_met": bool(
                    errors
                    and len(errors) == len(runs)
                    and all(r["succeeded"] for r in runs)
                    and max(errors) <= TARGET_ERROR
                    and above["quiet_succeeded"]
                    and above["longest_above_limit_s"] <= above["interval_s"]
                ),
            }
        )
    return {
        "params": p.to_json(),
        "plant": {k: v for k, v in dataclasses.asdict(ramp_plant(1, 0)).items() if k not in ("seed", "delay_s")},
        "seeds": seeds,
        "delays": per_delay,
        "seconds": round(time.perf_counter() - started, 1),
    }


def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.median(known), 1) if known else None


def table_rows(result: dict[str, Any]) -> list[str]:
    """Markdown rows `| measure | result | target |` (no header: they join bench.__main__'s table)."""
    p = result["params"]
    precision = f"{100 * p['precision_ratio']:g} %" if p.get("precision_ratio") else f"{p['precision_qps']:g} QPS"
    rows = [
        f"| capacity search on the simulator ({result['seeds']} seeds per delay; from {p['start_qps']:g} QPS, "
        f"x{p['growth']:g} then bisection to {precision}, trip at {p['trip_fraction']:g} x each abort limit; "
        f"knee {result['plant']['knee_qps']:g} QPS, 200 QPS drifting organic, noise) | | |"
    ]
    for d in result["delays"]:
        delay = f"metric delay {d['delay_s']:g} s"
        rows += [
            (
                f"| {delay}: found vs known capacity {d['known_qps']:g} QPS (median / worst error) | "
                f"{100 * d['error_median']:.2f} % / **{100 * d['error_max']:.2f} %** (found "
                f"{d['found_min_qps']:g}–{d['found_max_qps']:g}; {d['succeeded']} of {d['runs']} ended) | ≤ 2 % |"
                if d["error_max"] is not None
                else f"| {delay}: found vs known capacity | nothing found | ≤ 2 % |"
            ),
            (
                f"| {delay}: search time (median / max), levels, precision | {d['duration_median_s']} / "
                f"{d['duration_max_s']} s simulated, {d['levels_median']:g} levels, bracket "
                f"{d['precision_median_qps']} QPS (widest {d['precision_max_qps']}) | |"
            ),
            (
                f"| {delay}: knee (median; plant knee {d['plant_knee_qps']:g}) | {d['knee_median_qps']} QPS, none "
                f"at {d['knee_below_median_qps']} | |"
            ),
            (
                f"| {delay}: longest time above an abort limit ({d['visits_above_limit']} visits, plant without "
                f"noise) | **{d['longest_above_limit_s']:g} s** | ≤ {d['interval_s']:g} s (one interval) |"
            ),
        ]
    return rows


CAPACITY_STEP = "capacity"


def real_app_measures(client: Any, dag_id: str, run_id: str, step: str = CAPACITY_STEP) -> dict[str, Any] | None:
    """A capacity search's numbers from a run's XComs (the ramp task's result, the report's URL)."""
    outcome = client.xcom(dag_id, run_id, f"{step}.ramp")
    report = client.xcom(dag_id, run_id, f"{step}.report")
    if not outcome or "capacity" not in outcome:
        return None
    found = outcome["capacity"]
    return {
        "outcome": outcome["phase"],
        "reason": outcome["reason"],
        "found": found["found"],
        "capacity_qps": _rounded(found["capacity_qps"]),
        "capacity_rate_qps": found["capacity_rate_qps"],
        "bracket_qps": [_rounded(v) for v in found["bracket_qps"]] if found["bracket_qps"] else None,
        "precision_qps": _rounded(found["precision_qps"]),
        "limited_by": found["limited_by"],
        "knee_qps": _rounded(found["knee_qps"]),
        "knee_below_qps": _rounded(found["knee_below_qps"]),
        "knee_metric": found["knee_metric"],
        "search_s": _rounded(found["duration_s"]),
        "levels": len(found["steps"]),
        "requests_per_cpu_s": (outcome.get("load_generator") or {}).get("requests_per_cpu_s"),
        "report_url": report["url"] if report else None,
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def real_table_rows(r: dict[str, Any]) -> list[str]:
    """Markdown rows for the real app's search (no header: they join bench.__main__'s table)."""
    if r.get("capacity_qps") is None:
        return [f"| capacity search on the real app (shop_capacity) | **nothing found** ({r.get('reason', '')}) | |"]
    bracket = f"{r['bracket_qps'][0]:g}–{r['bracket_qps'][1]:g}" if r.get("bracket_qps") else "no upper side"
    knee = f"{r['knee_qps']:g} QPS ({r['knee_metric']}), none at {r['knee_below_qps']}" if r["knee_qps"] else "no rise"
    return [
        f"| capacity search on the real app (shop_capacity, Locust on this machine): highest sustainable QPS | "
        f"**{r['capacity_qps']:g}** (bracket {bracket}, precision {r['precision_qps']} QPS, limited by "
        f"{r['limited_by']}) | found |",
        f"| real app: search time, levels; knee | **{r['search_s']:g} s**, {r['levels']} levels; {knee} | |",
    ]
