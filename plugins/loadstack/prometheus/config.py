"""A prometheus.yml for loadstack's own Prometheus: what it scrapes, and how often.

Pure: builds text only. The scrape interval sets part of the delay a ramp controller sees (a rate
over a window is only complete one scrape after the window ends), so it is explicit and short by
default (1 s; shared/notes/ramp-and-traffic.md has the measured lag).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import yaml

DEFAULT_SCRAPE_INTERVAL_S = 1.0
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_ADDRESS = re.compile(r"^[^\s/:]+:\d{1,5}$")


class PrometheusConfigError(ValueError):
    """What Prometheus is asked to scrape cannot be written as given; the message names the field."""


def duration(seconds: float) -> str:
    """A Prometheus duration for `seconds` in whole milliseconds (e.g. 1.0 -> "1s", 0.25 -> "250ms")."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        raise PrometheusConfigError(f"duration {seconds!r} is not a number of seconds")
    ms = round(seconds * 1000)
    if ms <= 0:
        raise PrometheusConfigError(f"duration {seconds!r} s is not positive (whole milliseconds)")
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


@dataclass(frozen=True)
class ScrapeTarget:
    """An HTTP endpoint "host:port" and the labels its series get (e.g. {"name": "shop-app-0"})."""

    address: str
    labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _ADDRESS.fullmatch(self.address):
            raise PrometheusConfigError(f"scrape target {self.address!r} is not host:port")
        for key in self.labels:
            if not _LABEL.fullmatch(key) or key.startswith("__"):
                raise PrometheusConfigError(f"label name {key!r} of {self.address} is not a Prometheus label name")
        object.__setattr__(self, "labels", dict(self.labels))


@dataclass(frozen=True)
class ScrapeJob:
    """A `scrape_configs` entry: its targets are all scraped at `metrics_path` (an exact path: a
    Starlette mount at /metrics redirects to /metrics/, which a scrape does not follow well)."""

    name: str
    targets: tuple[ScrapeTarget, ...]
    metrics_path: str = "/metrics"

    def __post_init__(self) -> None:
        object.__setattr__(self, "targets", tuple(self.targets))
        if not self.name or any(c.isspace() for c in self.name):
            raise PrometheusConfigError(f"scrape job name {self.name!r} must be a non-empty word")
        if not self.metrics_path.startswith("/"):
            raise PrometheusConfigError(f"job {self.name}'s metrics_path {self.metrics_path!r} must start with /")
        if not self.targets:
            raise PrometheusConfigError(f"scrape job {self.name} has no targets")


def render_config(
    jobs: tuple[ScrapeJob, ...] | list[ScrapeJob], scrape_interval_s: float = DEFAULT_SCRAPE_INTERVAL_S
) -> str:
    """The prometheus.yml text: one global interval (also the scrape timeout, which may not exceed it)."""
    names = [job.name for job in jobs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise PrometheusConfigError(f"scrape job names must be unique; repeated: {', '.join(duplicates)}")
    interval = duration(scrape_interval_s)
    document = {
        "global": {"scrape_interval": interval, "scrape_timeout": interval, "evaluation_interval": interval},
        "scrape_configs": [
            {
                "job_name": job.name,
                "metrics_path": job.metrics_path,
                "static_configs": [
                    {"targets": [target.address], **({"labels": dict(target.labels)} if target.labels else {})}
                    for target in job.targets
                ],
            }
            for job in jobs
        ],
    }
    header = "# Written by loadstack (loadstack.prometheus.config); rewritten at every start.\n"
    return header + yaml.safe_dump(document, sort_keys=False)
