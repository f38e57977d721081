"""What an `app` step asks of any profile: run the application under test and say where it answers.

An `AppService` is made for one (profile, stack, step). `deploy(config)` brings the app up (or finds it
up) and returns the step's outputs, JSON primitives only: `url` (what gates and load use),
`health_url`, `prometheus_url` (None when there is none) and `instances`, plus what the profile adds.
With live traffic (`AppConfig.live`) the local profile also runs production processes and an organic
traffic generator, and adds `live_qps` and the load balancer's pools to the outputs.
`teardown()` removes what deploy made and needs nothing but the step's identity: no port, no password.
`loadstack.backends` picks the profile's implementation.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from loadstack.profiles import Profile

MAX_INSTANCES = 64
MAX_ORGANIC_QPS = 10_000.0
LIVE_FIELDS = ("production_instances", "organic_qps")


class AppServiceError(RuntimeError):
    """The app could not be deployed or reached; the message names the process or resource and the fix."""


@dataclass(frozen=True)
class AppConfig:
    """Everything the app step's deploy needs, from the spec and the outputs of the steps it uses.

    db_secret_id / cache_secret_id: the Secrets Manager ids the app reads its endpoints and passwords
    from (the database and cache steps' `secret_id` outputs); db_name: the database step's `database`.
    fault_*: static faults, off by default. scrape_interval_s: the local Prometheus's interval.
    aws only: load_balancer_url and target_group_arn (the app_cluster step's `url` and
    `target_group_arn`), prometheus_url if a Prometheus scrapes the instances.
    production_instances / organic_qps (local, both set or both 0): live traffic. That many more app
    processes stand for the other data centres (production's pool) in the same load balancer backend
    as the stack's, which starts at weight 0, and a generator sends `organic_qps` requests per second
    of organic traffic through the load balancer; a traffic shift then moves it between the pools.
    """

    stack: str
    step: str
    instances: int
    db_secret_id: str
    db_name: str
    cache_secret_id: str
    fault_latency_ms: float = 0.0
    fault_error_ratio: float = 0.0
    scrape_interval_s: float = 1.0
    load_balancer_url: str = ""
    target_group_arn: str = ""
    prometheus_url: str = ""
    production_instances: int = 0
    organic_qps: float = 0.0

    def __post_init__(self) -> None:
        where = f"app step {self.stack}/{self.step}"
        if isinstance(self.instances, bool) or not isinstance(self.instances, int):
            raise AppServiceError(f"{where}: instances {self.instances!r} is not an integer")
        if not 1 <= self.instances <= MAX_INSTANCES:
            raise AppServiceError(f"{where}: instances {self.instances} is not in 1..{MAX_INSTANCES}")
        production = self.production_instances
        if isinstance(production, bool) or not isinstance(production, int) or not 0 <= production <= MAX_INSTANCES:
            raise AppServiceError(f"{where}: production_instances {production!r} is not an integer in 0..{MAX_INSTANCES}")
        for field, low, high in (
            ("fault_latency_ms", 0.0, 60_000.0),
            ("fault_error_ratio", 0.0, 1.0),
            ("scrape_interval_s", 0.5, 60.0),
            ("organic_qps", 0.0, MAX_ORGANIC_QPS),
        ):
            value = getattr(self, field)
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not (number and math.isfinite(value) and low <= value <= high):
                raise AppServiceError(f"{where}: {field} {value!r} is not a number in {low:g}..{high:g}")
        if (production > 0) != (self.organic_qps > 0):
            raise AppServiceError(
                f"{where}: live traffic needs both production_instances and organic_qps above 0 (got "
                f"{production} and {self.organic_qps:g}); set both, or neither for no live traffic"
            )

    @property
    def live(self) -> bool:
        """Whether the deployment carries live traffic: production's pool and an organic generator."""
        return self.production_instances > 0

    def app_env(self) -> dict[str, str]:
        """The app's own configuration variables (the contract of `python -m shopapp`)."""
        return {
            "SHOPAPP_DB_SECRET_ID": self.db_secret_id,
            "SHOPAPP_DB_NAME": self.db_name,
            "SHOPAPP_CACHE_SECRET_ID": self.cache_secret_id,
            "SHOPAPP_FAULT_LATENCY_MS": f"{self.fault_latency_ms:g}",
            "SHOPAPP_FAULT_ERROR_RATIO": f"{self.fault_error_ratio:g}",
        }

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if not self.live:
            # Left out when off: a deployment made before live traffic existed still has the same config.
            for field in LIVE_FIELDS:
                data.pop(field)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AppConfig:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


class AppService(ABC):
    def __init__(self, profile: Profile, stack: str, step: str) -> None:
        self.profile = profile
        self.stack = stack
        self.step = step

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.stack}/{self.step} on {self.profile.name})"

    def _check(self, config: AppConfig) -> None:
        if (config.stack, config.step) != (self.stack, self.step):
            raise AppServiceError(
                f"{self!r} was given the config of {config.stack}/{config.step}: make the service with "
                "backends.app(config.stack, config.step)"
            )

    @abstractmethod
    def deploy(self, config: AppConfig) -> dict[str, Any]:
        """Bring the app up, or find it up as configured; its outputs (JSON primitives)."""

    @abstractmethod
    def teardown(self) -> bool:
        """Remove what deploy made (idempotent); False if there was nothing to remove."""
