"""The Locust master's loadstack routes (include/locust/shop.py), as a small synchronous client.

`POST /loadstack/rate {"qps": R[, "lease_s": L]}` asks for a rate (held L seconds unless renewed), `GET /loadstack/rate` reads back what is in
effect, `POST /loadstack/target {"host": URL}` points a standing master at a ramp's app,
`GET /loadstack/counters` gives the cumulative totals a metric source differences. Both
the traffic driver and the metric source talk through here; every failure is a
`LocustMasterError` naming the URL and what to check.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class LocustMasterError(RuntimeError):
    """The Locust master did not answer, refused the request, or answered something unexpected."""


class LocustMasterBusy(LocustMasterError):
    """The master answered 503: it cannot do this yet (e.g. users still draining); the same request may pass later."""


@dataclass(frozen=True)
class Counters:
    """One read of `GET /loadstack/counters`: cumulative since the stats epoch began.

    time:         the master's clock at the read (epoch seconds)
    complete_at:  the totals hold every request finished by then (the oldest of the workers' latest
                  reports); None before every worker has reported once
    stats_epoch:  changes when Locust clears or resets its stats (the totals restart at zero)
    histogram:    {rounded response time in ms: requests}, failures included
    """

    time: float
    complete_at: float | None
    last_report_at: float | None
    stats_epoch: int
    requests: int
    failures: int
    histogram: Mapping[int, int]
    workers: int
    # Requests each worker reported this epoch, by its Locust client id.
    worker_requests: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, url: str = "the Locust master") -> Counters:
        try:
            return cls(
                time=float(data["time"]),
                complete_at=None if data.get("complete_at") is None else float(data["complete_at"]),
                last_report_at=None if data.get("last_report_at") is None else float(data["last_report_at"]),
                stats_epoch=int(data["stats_epoch"]),
                requests=int(data["requests"]),
                failures=int(data["failures"]),
                histogram={int(ms): int(n) for ms, n in data["response_times"]},
                workers=int(data.get("workers", 0)),
                worker_requests={str(k): int(n) for k, n in (data.get("worker_requests") or {}).items()},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise LocustMasterError(
                f"{url}/loadstack/counters answered an unexpected shape ({exc!r}): is it running include/locust/shop.py?"
            ) from None


def _request(url: str, *, body: Mapping[str, Any] | None, timeout: float) -> dict[str, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if data is None else "POST")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:500]
        hint = " (is this master running include/locust/shop.py?)" if exc.code == 404 else ""
        error = LocustMasterBusy if exc.code == 503 else LocustMasterError
        raise error(f"Locust master {url} answered HTTP {exc.code}{hint}: {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise LocustMasterError(
            f"Locust master {url} did not answer ({reason}): is it still running? Its log is in the run directory"
        ) from None
    except ValueError as exc:
        raise LocustMasterError(f"Locust master {url} answered something that is not JSON: {exc}") from None
    if not isinstance(answer, dict):
        raise LocustMasterError(f"Locust master {url} answered {type(answer).__name__}, expected a JSON object")
    return answer


def rate_state(base_url: str, *, timeout: float = 10) -> dict[str, Any]:
    """`GET /loadstack/rate`: target_qps, applied_qps, running_users, user_qps, workers, state."""
    return _request(f"{base_url.rstrip('/')}/loadstack/rate", body=None, timeout=timeout)


def set_rate(base_url: str, qps: float, *, timeout: float = 10, lease_s: float | None = None) -> dict[str, Any]:
    """`POST /loadstack/rate`: ask for `qps` requests per second; returns the rate state after it.

    With `lease_s` the rate holds only that long unless asked again (the master drops it to 0, and a master a
    ramp started quits); without, it holds until changed (and any earlier lease is cleared).
    """
    body: dict[str, Any] = {"qps": qps} if lease_s is None else {"qps": qps, "lease_s": lease_s}
    return _request(f"{base_url.rstrip('/')}/loadstack/rate", body=body, timeout=timeout)


def set_target(base_url: str, host: str, *, timeout: float = 10) -> dict[str, Any]:
    """`POST /loadstack/target`: send users spawned from now on to `host`; returns the rate state after it."""
    return _request(f"{base_url.rstrip('/')}/loadstack/target", body={"host": host}, timeout=timeout)


def counters(base_url: str, *, timeout: float = 10) -> Counters:
    """`GET /loadstack/counters`, parsed."""
    url = base_url.rstrip("/")
    return Counters.from_json(_request(f"{url}/loadstack/counters", body=None, timeout=timeout), url=url)
