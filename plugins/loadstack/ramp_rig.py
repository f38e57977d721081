"""What a ramp runs with: the traffic driver and the metric source its step asks for, opened and closed together.

The ramp step names a load generator (a Locust master the ramp starts with its workers, or one that
runs elsewhere, by URL) and a metric source (the stack's Prometheus, or Locust's own counters). A
`RampRig` holds both; closing it drains the traffic and stops whatever it started, so a ramp that
fails, is terminated or is killed never leaves load behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from loadstack.locust.driver import LocustDriver
from loadstack.metrics.locust import MIN_WINDOW_S, LocustSource
from loadstack.metrics.prometheus import PrometheusQueries, PrometheusSource
from loadstack.ramp.samples import MetricSource
from loadstack.ramp.traffic import TrafficDriver


class RampRigError(ValueError):
    """The step's load or metrics settings cannot make a rig; the message names the field and the fix."""


@dataclass
class RampRig:
    driver: TrafficDriver
    source: MetricSource

    def usage(self) -> dict[str, Any]:
        """The load generator's totals (requests, failures, workers' CPU seconds) and requests per CPU second.

        Read before `close`; {} when the driver cannot say (it is gone, or it is not Locust).
        """
        usage = getattr(self.driver, "usage", None)
        if usage is None:
            return {}
        try:
            found = dict(usage())
        except Exception:  # noqa: BLE001 - a benchmark number, never a reason to fail a ramp
            return {}
        cpu = found.get("worker_cpu_s")
        found["requests_per_cpu_s"] = round(found["requests"] / cpu, 1) if cpu else None
        return found

    def close(self) -> None:
        """Drain and stop the load, then release the source; safe to call more than once."""
        try:
            self.driver.close()
        finally:
            self.source.close()


def open_rig(
    *,
    run_dir: Path,
    project_root: Path,
    target_url: str,
    load: Mapping[str, Any],
    metrics: Mapping[str, Any],
) -> RampRig:
    """Start (or attach to) the load generator, then open the metric source on it or on Prometheus.

    `load` and `metrics` are the step's resolved `load` and `metrics` settings (see loadstack.kinds.ramp).
    """
    if not target_url.startswith(("http://", "https://")):
        raise RampRigError(f"target_url {target_url!r} is not an http(s) URL: give e.g. ${{steps.app.outputs.url}}")
    if load.get("master_url"):
        driver = LocustDriver.attach(load["master_url"])
    else:
        locustfile = (project_root / load["locustfile"]).resolve()
        if not locustfile.is_file():
            raise RampRigError(f"load.locustfile: no file {locustfile}; give a path relative to {project_root}")
        driver = LocustDriver.start(
            run_dir=run_dir, target_url=target_url, workers=int(load.get("workers", 1)), locustfile=locustfile
        )
    try:
        source = _source(driver, metrics)
    except BaseException:
        driver.close()
        raise
    return RampRig(driver=driver, source=source)


def _source(driver: LocustDriver, metrics: Mapping[str, Any]) -> MetricSource:
    window_s = float(metrics.get("window_s", 5))
    if metrics.get("source", "prometheus") == "locust":
        return LocustSource(url=driver.url, window_s=max(window_s, MIN_WINDOW_S))
    url = metrics.get("url") or ""
    if not url.startswith(("http://", "https://")):
        raise RampRigError(f"metrics.url {url!r} is not a Prometheus URL: give e.g. ${{steps.app.outputs.prometheus_url}}")
    return PrometheusSource(
        url=url,
        queries=PrometheusQueries.for_app(window_s),
        scrape_interval_s=float(metrics.get("scrape_interval_s", 1.0)),
    )
