"""The ramp on the real local stack, read from a finished `shop` run (bench/__main__.py runs it).

What the surge step measured during its hold: achieved QPS against the target, the share of the hold
in band, samples above the high watermark, time to band; and what the load cost: requests per CPU
second of the Locust workers (the load generator's requests per second per core).
"""

from __future__ import annotations

from typing import Any

RAMP_STEP = "surge"


def ramp_measures(client: Any, dag_id: str, run_id: str, step: str = RAMP_STEP) -> dict[str, Any] | None:
    """The ramp's numbers from the run's XComs (the ramp task's outcome, the report's summary)."""
    outcome = client.xcom(dag_id, run_id, f"{step}.ramp")
    report = client.xcom(dag_id, run_id, f"{step}.report")
    if not outcome or not report:
        return None
    summary = report["summary"]
    hold = summary["hold"]
    usage = outcome.get("load_generator") or {}
    return {
        "target_qps": outcome["target_qps"],
        "outcome": summary["outcome"],
        "time_to_band_s": _round(summary["time_to_band_s"]),
        "ramp_s": _round(summary["duration_s"]),
        "hold_s": _round(hold["duration_s"] if "duration_s" in hold else summary["hold_s"]),
        "achieved_qps_mean": _round(hold["achieved_qps_mean"]),
        "achieved_over_target": _round(hold["achieved_ratio"], 3),
        "in_band_share": _round(hold["in_band_share"], 3),
        "samples_above_high": hold["samples_above_high"],
        "p99_ms_max": _round(hold["p99_ms"]),
        "error_ratio": hold["error_ratio"],
        "requests": usage.get("requests"),
        "worker_cpu_s": _round(usage.get("worker_cpu_s")),
        "requests_per_cpu_s": usage.get("requests_per_cpu_s"),
        "report_url": report["url"],
    }


def _round(value: Any, digits: int = 1) -> Any:
    return round(value, digits) if isinstance(value, (int, float)) else value


def table_rows(r: dict[str, Any]) -> list[str]:
    return [
        f"| shop ramp on the real stack: achieved / target QPS during the hold ({r['achieved_qps_mean']} / "
        f"{r['target_qps']}) | **{r['achieved_over_target']}** | ≈ 1 |",
        f"| shop ramp: share of the hold in band | **{r['in_band_share']}** | ≥ 0.95 |",
        f"| shop ramp: samples above the high watermark during the hold | **{r['samples_above_high']}** | 0 |",
        f"| shop ramp: time to band; whole ramp | {r['time_to_band_s']} s; {r['ramp_s']} s | |",
        f"| Locust worker: requests per CPU second (≈ per core; {r['requests']} requests in {r['worker_cpu_s']} CPU s) "
        f"| **{r['requests_per_cpu_s']}** | |",
    ]
