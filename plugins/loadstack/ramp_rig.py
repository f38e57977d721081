"""What a ramp runs with: the traffic driver and the metric source its step asks for, opened and closed together.

The ramp step names its traffic (`load.driver`): a load generator (a Locust master the ramp starts
with its workers, or a standing one that runs elsewhere, by URL, which the ramp points at its app), or
live traffic shifted onto the stack by load-balancer weights (HAProxy through its admin socket, an ALB
listener, Route 53 weighted records).
It names a metric source: the stack's Prometheus (narrowed by labels to the stack's pool), Locust's
own counters, or CloudWatch. A `RampRig` holds both; closing it drains the traffic (a shift puts
all weight back on production) and stops whatever it started, so a ramp that fails, is terminated or
is killed never leaves load behind.

AWS clients come from the stack's profile (`Profile.client`): the same code reaches moto locally and
the account on aws, and callers never tell the profiles apart.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadstack.haproxy.config import BACKEND
from loadstack.haproxy.runtime import HAProxyRuntime
from loadstack.locust import master_api
from loadstack.locust.cluster import TooFewWorkers
from loadstack.locust.driver import LocustDriver
from loadstack.metrics.cloudwatch import (
    DEFAULT_PERIOD_S,
    DEFAULT_PUBLISH_LAG_S,
    CloudWatchSource,
    CloudWatchSourceError,
)
from loadstack.metrics.locust import MIN_WINDOW_S, LocustSource
from loadstack.metrics.prometheus import PrometheusQueries, PrometheusSource
from loadstack.profiles import Profile
from loadstack.ramp.samples import MetricSource
from loadstack.ramp.traffic import TrafficDriver
from loadstack.shift.alb import AlbShiftDriver
from loadstack.shift.haproxy import HAProxyShiftDriver
from loadstack.shift.route53 import Route53ShiftDriver


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
    profile: Profile | None = None,
) -> RampRig:
    """Open the metric source, then start (or attach to) the traffic driver; Locust's counters come from its master.

    `load` and `metrics` are the step's resolved `load` and `metrics` settings (see loadstack.kinds.ramp).
    `profile` gives the AWS clients (alb_shift, route53_shift, the cloudwatch source).
    A source that cannot be opened starts no traffic; a driver that cannot be made closes the source.
    """
    if not target_url.startswith(("http://", "https://")):
        raise RampRigError(f"target_url {target_url!r} is not an http(s) URL: give e.g. ${{steps.app.outputs.url}}")
    driver_name = load.get("driver", "locust")
    if metrics.get("source", "prometheus") == "locust":
        if driver_name != "locust":
            raise RampRigError(
                f"metrics.source locust reads the ramp's own Locust, and load.driver {driver_name} starts none: "
                "use prometheus or cloudwatch"
            )
        driver = _locust(run_dir, project_root, target_url, load, profile)
        try:
            window_s = float(metrics.get("window_s", 5))
            return RampRig(driver=driver, source=LocustSource(url=driver.url, window_s=max(window_s, MIN_WINDOW_S)))
        except BaseException:
            driver.close()
            raise
    source = _source(metrics, profile)
    try:
        if driver_name == "locust":
            return RampRig(driver=_locust(run_dir, project_root, target_url, load, profile), source=source)
        return RampRig(driver=_shift(driver_name, load, profile), source=source)
    except BaseException:
        source.close()
        raise


def _locust(
    run_dir: Path, project_root: Path, target_url: str, load: Mapping[str, Any], profile: Profile | None
) -> LocustDriver:
    master_url, setting = load.get("master_url"), "load.master_url"
    if not master_url and profile is not None and profile.locust_master_url:
        # The profile's load generators (a standing cluster on load hosts) serve every stack that uses their file.
        master_url, setting = profile.locust_master_url, "LOADSTACK_LOCUST_MASTER_URL"
        _check_locustfile(master_url, load)
    if master_url:
        # A standing master serves every stack: this ramp names its app at run time.
        try:
            return LocustDriver.attach(master_url, target_url=target_url, workers=int(load.get("workers", 1)))
        except TooFewWorkers as error:
            raise RampRigError(
                f"load.workers {error.wanted}: the Locust master at {setting} {error.url} has only "
                f"{error.connected} worker(s) connected; start more workers against it or lower load.workers"
            ) from None
    locustfile = (project_root / load["locustfile"]).resolve()
    if not locustfile.is_file():
        raise RampRigError(f"load.locustfile: no file {locustfile}; give a path relative to {project_root}")
    return LocustDriver.start(
        run_dir=run_dir, target_url=target_url, workers=int(load.get("workers", 1)), locustfile=locustfile
    )


def _check_locustfile(master_url: str, load: Mapping[str, Any]) -> None:
    """The profile's standing master runs one locustfile: a step written for another cannot use it."""
    try:
        running = master_api.rate_state(master_url).get("locustfile")
    except master_api.LocustMasterError:
        return  # unreachable: attaching says so, with the master's address
    wanted = Path(load["locustfile"]).name
    if running and running != wanted:
        raise RampRigError(
            f"load.locustfile {load['locustfile']}: the profile's Locust master (LOADSTACK_LOCUST_MASTER_URL "
            f"{master_url}) runs {running}; give load.master_url of a master that runs {wanted}"
        )


def _aws(profile: Profile | None, what: str) -> Profile:
    if profile is None:
        raise RampRigError(f"{what} needs AWS clients, and open_rig was given no profile: pass profile=")
    return profile


def _live_qps(load: Mapping[str, Any]) -> float:
    value = load.get("live_qps")
    try:
        rate = float(value)  # a reference interpolated into text arrives as a string
    except (TypeError, ValueError):
        rate = math.nan
    if not (math.isfinite(rate) and rate > 0):
        raise RampRigError(
            f"load.live_qps {value!r} is not a rate > 0: give the live requests per second the load balancer "
            "splits, e.g. ${steps.app.outputs.live_qps}"
        )
    return rate


def _servers(load: Mapping[str, Any], field: str) -> list[str]:
    value = load.get(field)
    if not isinstance(value, (list, tuple)) or not value or not all(isinstance(s, str) and s for s in value):
        raise RampRigError(
            f"load.{field} {value!r} is not a list of HAProxy server names: give e.g. ${{steps.app.outputs.{field}}}"
        )
    return list(value)


def _shift(driver: str, load: Mapping[str, Any], profile: Profile | None) -> TrafficDriver:
    """The weight driver `driver` names; a setting it refuses is a RampRigError naming the field."""
    live_qps = _live_qps(load)
    try:
        if driver == "haproxy_shift":
            socket = load.get("admin_socket") or ""
            if not isinstance(socket, str) or not socket.startswith("/"):
                raise RampRigError(
                    f"load.admin_socket {socket!r} is not HAProxy's admin socket path: give ${{steps.app.outputs.admin_socket}}"
                )
            return HAProxyShiftDriver(
                runtime=HAProxyRuntime(socket),
                backend=load.get("backend") or BACKEND,
                production_servers=_servers(load, "production_servers"),
                stack_servers=_servers(load, "stack_servers"),
                live_qps=live_qps,
            )
        if driver == "alb_shift":
            settle = {} if load.get("settle_s") is None else {"settle_s": float(load["settle_s"])}
            return AlbShiftDriver(
                elbv2=_aws(profile, "load.driver alb_shift").client("elbv2"),
                listener_arn=load.get("listener_arn", ""),
                production_target_group_arn=load.get("production_target_group_arn", ""),
                stack_target_group_arn=load.get("stack_target_group_arn", ""),
                live_qps=live_qps,
                **settle,
            )
        if driver == "route53_shift":
            optional = {k: float(load[k]) for k in ("propagation_s", "alias_ttl_s") if load.get(k) is not None}
            return Route53ShiftDriver(
                route53=_aws(profile, "load.driver route53_shift").client("route53"),
                hosted_zone_id=load.get("hosted_zone_id", ""),
                record_name=load.get("record_name", ""),
                record_type=load.get("record_type") or "A",
                production_set_identifier=load.get("production_set_identifier", ""),
                stack_set_identifier=load.get("stack_set_identifier", ""),
                live_qps=live_qps,
                **optional,
            )
    except RampRigError:
        raise
    except ValueError as error:  # the driver refused a setting (WeightSplitError is one too)
        raise RampRigError(f"load ({driver}): {error}") from None
    raise RampRigError(f"load.driver {driver!r} is not a driver: use locust, haproxy_shift, alb_shift or route53_shift")


def _source(metrics: Mapping[str, Any], profile: Profile | None) -> MetricSource:
    source = metrics.get("source", "prometheus")
    if source == "cloudwatch":
        client = _aws(profile, "metrics.source cloudwatch").client("cloudwatch")
        try:
            return CloudWatchSource(
                client=client,
                load_balancer=metrics.get("load_balancer") or "",
                target_group=metrics.get("target_group") or None,
                period_s=int(metrics.get("period_s", DEFAULT_PERIOD_S)),
                publish_lag_s=float(metrics.get("publish_lag_s", DEFAULT_PUBLISH_LAG_S)),
                percentiles=bool(metrics.get("percentiles", True)),
            )
        except CloudWatchSourceError as error:
            client.close()
            raise RampRigError(f"metrics (cloudwatch): {error}") from None
    if source != "prometheus":
        raise RampRigError(f"metrics.source {source!r} is not a source: use prometheus, locust or cloudwatch")
    url = metrics.get("url") or ""
    if not url.startswith(("http://", "https://")):
        raise RampRigError(f"metrics.url {url!r} is not a Prometheus URL: give e.g. ${{steps.app.outputs.prometheus_url}}")
    return PrometheusSource(
        url=url,
        queries=PrometheusQueries.for_app(float(metrics.get("window_s", 5)), labels=metrics.get("labels") or {}),
        scrape_interval_s=float(metrics.get("scrape_interval_s", 1.0)),
    )
