"""Locust traffic for the shop app under test, at an exact open-model request rate set live.

Runs on Locust hosts (master and workers), so it imports nothing from loadstack: only Locust,
gevent (Locust's own) and the standard library.

The app's routes (app/shopapp): POST /events, GET /profiles/{id}/events, GET /sessions/{sid}/cart,
and GET /loadgen/keys for real profiles (with their account) and sessions, fetched once per worker
process at each test start.
Every task sends exactly one request, so tasks per second are requests per second.

Rate control (Locust has no target-rate mode):
- The master's web UI gets `POST /loadstack/rate {"qps": R}` (the first one starts the shape);
  `RateShape.tick()` (every ~1 s)
  turns R into `plan_users(R)`: n users, each paced at R/n requests per second, so n x R/n = R
  exactly for any R, not only for multiples of a fixed per-user rate.
- The per-user rate reaches the workers as a custom runner message (`loadstack_user_qps`), sent
  at every tick *before* the user count changes (one ordered channel per worker), and again at
  every tick so a worker that connects later learns it too. Custom messages were chosen over a
  fixed per-user rate because a fixed rate r quantizes the target to multiples of r: small r
  exactness costs hundreds of users at hundreds of QPS, large r makes users fall behind as soon as
  latency exceeds 1/r. Here n = ceil(R / max_user_qps): each user stays at or under
  `--user-max-qps` (default 2), so latency up to 1/max_user_qps (500 ms) does not lower the rate.
- Users pace on a schedule (next start = previous scheduled start + 1/rate), not on the end of the
  last request, so short latencies never erode the rate; a user more than one interval behind
  drops the backlog instead of bursting. New users start at a random phase of their interval.
- `GET /loadstack/rate` reads back the rate in effect: running users x the per-user rate sent.
- A rate lease: `POST /loadstack/rate {"qps": R, "lease_s": L}` holds R for L seconds only. The ramp that
  drives the master renews it (posts its rate again) well within L; once L passes with no renewal (the
  ramp's task was killed: SIGKILL, OOM, a restarted worker) the master drops the rate to 0 on its own and
  logs it once, so no load runs unsupervised. A master started by a ramp (`--loadstack-quit-on-lease-expiry`)
  then quits, taking its workers with it, so nothing of the dead ramp is left running; a standing master
  only drops to 0 and waits for the next ramp. A POST without `lease_s` clears the lease (the rate holds
  until changed: the CLI's and other users' behaviour). `GET /loadstack/rate` reports the lease.
- `POST /loadstack/target {"host": URL}` points a standing master (started without `--host`, serving
  one ramp after another) at a ramp's app: Locust sends the master's host with every spawn message,
  so users spawned after it hit URL. Only users spawned after a change see it, so the master refuses
  a new host while another one has a rate (409) or while users still run (503: draining, retry).
- `GET /loadstack/counters` gives cumulative totals of the master's aggregated stats (requests,
  failures, the response-time histogram in Locust's rounded millisecond buckets), the master's
  clock, the time the last worker report arrived, and `complete_at` (the oldest of the workers'
  latest reports), the totals *as of* `complete_at`, and each worker's own request count
  (`worker_requests`, from its reports). A reader differences two reads into a window's rate, error
  ratio and quantiles. `current_rps` is never used: it lags.
  With several workers the others have reported past `complete_at` (each on its own 3 s cycle): their
  last report's requests are spread evenly over its interval and only the part up to `complete_at`
  counts (`totals_as_of`), so two reads' totals cover exactly the time between their `complete_at`
  (a raw sum would count up to one report interval of every other worker too much at each end).
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import signal
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from itertools import pairwise
from typing import Any, NamedTuple

import gevent
from flask import jsonify, request
from gevent.lock import Semaphore
from locust import FastHttpUser, LoadTestShape, events, task
from locust.runners import STATE_MISSING, MasterRunner

USER_QPS_MESSAGE = "loadstack_user_qps"
LEASE_CHECK_INTERVAL_S = 0.5  # how often the master's lease watchdog looks at the lease
logger = logging.getLogger("loadstack.shop")
DEFAULT_USER_MAX_QPS = 2.0
# Users added or removed per second by the shape: large enough that one tick applies any change.
MIN_SPAWN_RATE = 50.0
KEYS_PATH = "/loadgen/keys"
KEYS_WANTED = 1000  # the app's maximum: spreads reads over many profiles and carts
WORKER_REPORT_INTERVAL_S = 3.0  # Locust's WORKER_REPORT_INTERVAL
TOTALS_KEPT = 8  # reports kept per worker: complete_at is never more than a report or two behind the latest


# --- rate arithmetic (pure) ----------------------------------------------------------------------
def plan_users(qps: float, user_max_qps: float = DEFAULT_USER_MAX_QPS) -> tuple[int, float]:
    """(users, per-user QPS) whose product is exactly `qps`, each user at most `user_max_qps`.

    0 QPS is (0, 0.0): no users at all, not users that idle.
    """
    if not (math.isfinite(qps) and qps >= 0):
        raise ValueError(f"rate must be a finite number >= 0 requests per second, got {qps!r}")
    if not (math.isfinite(user_max_qps) and user_max_qps > 0):
        raise ValueError(f"--user-max-qps must be a finite number > 0, got {user_max_qps!r}")
    if qps == 0:
        return 0, 0.0
    users = max(1, math.ceil(qps / user_max_qps - 1e-9))
    return users, qps / users


def spawn_rate_for(current_users: int, target_users: int) -> float:
    """A spawn rate that applies the whole change in one dispatch (no pacing between batches)."""
    return float(max(MIN_SPAWN_RATE, abs(target_users - current_users)))


def next_start(scheduled: float, interval: float, now: float) -> float:
    """When a paced user starts its next request: one interval after the last *scheduled* start.

    Scheduling from the previous start (not from the end of the request) keeps the rate exact
    while requests are faster than the interval; more than one interval behind, the backlog is
    dropped (the user starts now) rather than sent as a burst.
    """
    due = scheduled + interval
    return now if due < now - interval else due


def parse_rate_body(body: bytes) -> float:
    """The `qps` of a `POST /loadstack/rate` body; ValueError names what is wrong."""
    try:
        data = json.loads(body or b"null")
    except ValueError as exc:
        raise ValueError(f'body is not JSON ({exc}): send {{"qps": <requests per second>}}') from None
    if not isinstance(data, dict) or "qps" not in data:
        raise ValueError('body must be a JSON object {"qps": <requests per second>}')
    qps = data["qps"]
    if isinstance(qps, bool) or not isinstance(qps, (int, float)) or not math.isfinite(qps) or qps < 0:
        raise ValueError(f"qps must be a finite number >= 0, got {qps!r}")
    return float(qps)


def parse_lease_body(body: bytes) -> float | None:
    """The optional `lease_s` of a `POST /loadstack/rate` body (seconds the rate holds without a renewal);
    None when absent. ValueError names what is wrong; call it on a body `parse_rate_body` accepted."""
    data = json.loads(body or b"null")
    lease = data.get("lease_s") if isinstance(data, dict) else None
    if lease is None:
        return None
    if isinstance(lease, bool) or not isinstance(lease, (int, float)) or not math.isfinite(lease) or lease <= 0:
        raise ValueError(f"lease_s must be a finite number of seconds > 0 (or absent: no lease), got {lease!r}")
    return float(lease)


def lease_left(lease_until: float | None, now: float) -> float | None:
    """Seconds left on a lease ending at `lease_until` (0 once it has passed); None: no lease."""
    return None if lease_until is None else max(0.0, lease_until - now)


def parse_target_body(body: bytes) -> str:
    """The `host` of a `POST /loadstack/target` body (an http(s) URL, no trailing slash); ValueError says why not."""
    try:
        data = json.loads(body or b"null")
    except ValueError as exc:
        raise ValueError(f'body is not JSON ({exc}): send {{"host": "http://HOST:PORT"}}') from None
    host = data.get("host") if isinstance(data, dict) else None
    if not isinstance(host, str) or not host.startswith(("http://", "https://")) or "://" == host[-3:]:
        raise ValueError(f'body must be a JSON object {{"host": "http://HOST:PORT"}} (the app), got {data!r}')
    return host.rstrip("/")


class Totals(NamedTuple):
    """Cumulative requests, failures and response-time histogram ({rounded ms: n}) at time `at`."""

    at: float
    requests: float
    failures: float
    histogram: dict[int, float]

    def plus(self, at: float, requests: int, failures: int, response_times: Mapping[int, int]) -> Totals:
        """These totals with one worker report (what it finished since its previous report) added, at `at`."""
        histogram = dict(self.histogram)
        for ms, n in response_times.items():
            histogram[int(ms)] = histogram.get(int(ms), 0) + n
        return Totals(at, self.requests + requests, self.failures + failures, histogram)


def totals_as_of(history: Sequence[Totals], at: float) -> Totals:
    """One worker's totals at `at`, from its totals at each report (oldest first).

    Between two reports the later one's requests are taken as spread evenly over its interval; after
    the last report the totals are the last report's; before the first, the first's.
    """
    if not history:
        return Totals(at, 0, 0, {})
    if at <= history[0].at:
        return history[0]
    for before, after in pairwise(history):
        if before.at < at < after.at:
            share = (at - before.at) / (after.at - before.at)

            def between(old: float, new: float) -> float:
                return old + share * (new - old)

            buckets = after.histogram.keys() | before.histogram.keys()
            return Totals(
                at,
                between(before.requests, after.requests),
                between(before.failures, after.failures),
                {ms: between(before.histogram.get(ms, 0), after.histogram.get(ms, 0)) for ms in buckets},
            )
        if at == after.at:
            return after
    return history[-1]


def sum_totals(parts: Iterable[Totals], at: float) -> Totals:
    """Several workers' totals at the same time `at`, added."""
    requests = failures = 0.0
    histogram: dict[int, float] = {}
    for part in parts:
        requests += part.requests
        failures += part.failures
        for ms, n in part.histogram.items():
            histogram[ms] = histogram.get(ms, 0) + n
    return Totals(at, requests, failures, histogram)


def histogram_pairs(response_times: Mapping[int, float]) -> list[list[int]]:
    """Locust's {rounded ms: count} as sorted [ms, count] pairs (JSON objects cannot have int keys); a
    fractional count (a share of a report) is rounded down, so totals only ever grow."""
    return [[int(ms), math.floor(n + 1e-9)] for ms, n in sorted(response_times.items()) if math.floor(n + 1e-9)]


# --- shared state of this process ----------------------------------------------------------------
class RateControl:
    """The asked rate (master) and the per-user rate in effect (every process)."""

    def __init__(self) -> None:
        self.target_qps = 0.0
        self.user_max_qps = DEFAULT_USER_MAX_QPS
        self.sent_user_qps = 0.0  # master: the per-user rate last sent to the workers
        self.user_qps = 0.0  # worker: the per-user rate its users pace at
        self.last_report_at: float | None = None
        self.worker_report_at: dict[str, float] = {}
        # master: each worker's totals at its latest few reports this epoch (oldest first)
        self.worker_totals: dict[str, deque[Totals]] = {}
        self.epoch_started_at = time.time()
        self.stats_epoch = 0  # counts Locust's stats resets: totals restart at zero after one
        # master: the rate lease (see the module docstring); None: the rate holds until changed
        self.lease_s: float | None = None
        self.lease_until: float | None = None
        self.lease_expired = False  # the last lease ran out without a renewal (logged once)
        self.quit_on_lease_expiry = False  # --loadstack-quit-on-lease-expiry: a master started by a ramp

    def plan(self) -> tuple[int, float]:
        return plan_users(self.target_qps, self.user_max_qps)

    def set_rate(self, qps: float, lease_s: float | None, now: float) -> None:
        """A rate asked for (a renewal is the same rate asked again), held for `lease_s` from `now` or,
        without a lease, until changed."""
        self.target_qps = qps
        self.lease_s = lease_s
        self.lease_until = None if lease_s is None else now + lease_s
        self.lease_expired = False

    def check_lease(self, now: float) -> bool:
        """Drop the rate to 0 when the lease has run out; True only at the check that found it out (once)."""
        if self.lease_until is None or self.lease_expired or now < self.lease_until:
            return False
        self.lease_expired = True
        self.target_qps = 0.0
        return True

    def lease_state(self, now: float) -> dict[str, Any]:
        """The lease as `GET /loadstack/rate` reports it."""
        return {
            "lease_s": self.lease_s,
            "lease_left_s": lease_left(self.lease_until, now),
            "lease_expired": self.lease_expired,
            "quit_on_lease_expiry": self.quit_on_lease_expiry,
        }

    def new_epoch(self) -> None:
        """Locust cleared its stats: every worker's totals start again from zero, now."""
        self.worker_totals.clear()
        self.epoch_started_at = time.time()

    def add_report(self, worker: str, at: float, stats_total: Mapping[str, Any]) -> None:
        """A worker's report (`stats_total`: what it finished since its previous report) arrived at `at`."""
        history = self.worker_totals.get(worker)
        if history is None:
            # Its first report this epoch covers at most one report interval before it.
            start = max(self.epoch_started_at, at - WORKER_REPORT_INTERVAL_S)
            history = self.worker_totals[worker] = deque([Totals(start, 0, 0, {})], maxlen=TOTALS_KEPT)
        history.append(
            history[-1].plus(
                at,
                int(stats_total.get("num_requests", 0)),
                int(stats_total.get("num_failures", 0)),
                dict(stats_total.get("response_times") or {}),
            )
        )

    def totals_as_of(self, at: float) -> Totals:
        """Every worker's totals at `at` (a worker gone since is counted up to its last report)."""
        return sum_totals((totals_as_of(history, at) for history in self.worker_totals.values()), at)


control = RateControl()


class RateShape(LoadTestShape):
    """Applies the asked rate every tick: per-user rate to the workers first, then the user count."""

    def __init__(self) -> None:
        super().__init__()
        self._users = 0
        self._spawn_rate = MIN_SPAWN_RATE

    def tick(self) -> tuple[int, float]:
        expire_lease(self.runner)
        users, user_qps = control.plan()
        if users and self.runner is not None:
            # Sent before the user count changes, on the same channel as the spawn message, so new
            # users never start without a rate; a zero (no users) is never sent.
            self.runner.send_message(USER_QPS_MESSAGE, {"qps": user_qps})
            control.sent_user_qps = user_qps
        if users != self._users:
            # Fixed until the next change: the runner restarts a dispatch whenever the tuple changes.
            self._spawn_rate = spawn_rate_for(self._users, users)
            self._users = users
        return users, self._spawn_rate


def expire_lease(runner, now: float | None = None) -> bool:
    """Stop the load if the rate lease ran out (logged once); a master started by a ramp then quits, its
    workers with it. True when this call found the lease expired."""
    if not control.check_lease(time.time() if now is None else now):
        return False
    logger.warning(
        "rate lease expired: no renewal from the ramp in %g s; load stopped%s",
        control.lease_s,
        " and this master quits (--loadstack-quit-on-lease-expiry)" if control.quit_on_lease_expiry else "",
    )
    if control.quit_on_lease_expiry and runner is not None:
        gevent.spawn(_quit, runner)  # not from the shape's greenlet, which quitting kills
    return True


def _quit(runner) -> None:
    """Quit like a SIGTERM does: the runner tells the workers to quit, then Locust's own shutdown ends this process."""
    try:
        runner.quit()
    finally:
        os.kill(os.getpid(), signal.SIGTERM)  # Locust's SIGTERM handler: shutdown() and exit


def _lease_watchdog(environment) -> None:
    """The master's lease check when no shape ticks (the shape stopped from the web UI, or never started)."""
    while True:
        gevent.sleep(LEASE_CHECK_INTERVAL_S)
        try:
            expire_lease(environment.runner)
        except Exception:  # noqa: BLE001 - the watchdog must outlive a bad check
            logger.exception("loadstack: checking the rate lease failed")


# --- the user ------------------------------------------------------------------------------------
class Keys:
    """The ids from GET /loadgen/keys, fetched once per process per test by the first user needing them.

    The app answers {"profiles": [{"profile_id": int, "account_id": int}, ...], "sessions": [sid, ...]}:
    real profiles with their account (an event must name both) and real session ids.
    """

    def __init__(self) -> None:
        self.lock = Semaphore()
        self.profiles: list[dict[str, int]] = []
        self.sessions: list[str] = []
        self.loaded = False

    def clear(self) -> None:
        self.loaded = False

    def load(self, data: Any) -> None:
        if not isinstance(data, dict):
            raise TypeError(f"{KEYS_PATH} answered {type(data).__name__}, expected a JSON object")
        profiles, sessions = data.get("profiles"), data.get("sessions")
        if not profiles or not sessions:
            raise ValueError(f"{KEYS_PATH} must list non-empty profiles and sessions, got keys {sorted(data)}")
        if not all(isinstance(p, dict) and {"profile_id", "account_id"} <= p.keys() for p in profiles):
            raise ValueError(f"{KEYS_PATH}: each profile must have profile_id and account_id, got {profiles[0]!r}")
        self.profiles, self.sessions = list(profiles), [str(s) for s in sessions]
        self.loaded = True


keys = Keys()

EVENT_TYPES = ("viewed_page", "viewed_product", "added_to_cart", "started_checkout", "placed_order")
EVENT_WEIGHTS = (50, 30, 12, 5, 3)
PAGES = ("/", "/sale", "/category/shoes", "/category/bags", "/search?q=boots", "/account")


class ShopUser(FastHttpUser):
    """A shopper: mostly reads a profile's timeline and a cart, sometimes records an event."""

    # An overloaded app must show up as failures within the ramp's windows, not as hung users.
    network_timeout = 10.0
    connection_timeout = 5.0

    def on_start(self) -> None:
        rate = control.user_qps
        interval = 1.0 / rate if rate > 0 else 1.0
        # Users spawned together would otherwise fire together at every interval.
        gevent.sleep(random.random() * interval)
        self._scheduled = time.monotonic()

    def wait_time(self) -> float:
        rate = control.user_qps
        interval = 1.0 / rate if rate > 0 else 1.0
        now = time.monotonic()
        self._scheduled = next_start(getattr(self, "_scheduled", now), interval, now)
        return max(0.0, self._scheduled - now)

    def _keys(self) -> bool:
        if keys.loaded:
            return True
        with keys.lock:
            if keys.loaded:
                return True
            with self.client.get(f"{KEYS_PATH}?n={KEYS_WANTED}", name=KEYS_PATH, catch_response=True) as response:
                try:
                    keys.load(response.json())
                except (ValueError, TypeError) as exc:  # recorded as this request's failure
                    response.failure(f"no usable ids: {exc}")
                    return False
        return True

    @task(5)
    def profile_events(self) -> None:
        if self._keys():
            profile = random.choice(keys.profiles)["profile_id"]
            self.client.get(f"/profiles/{profile}/events", name="/profiles/{id}/events")

    @task(3)
    def session_cart(self) -> None:
        if self._keys():
            session = random.choice(keys.sessions)
            self.client.get(f"/sessions/{session}/cart", name="/sessions/{sid}/cart")

    @task(2)
    def record_event(self) -> None:
        if self._keys():
            profile = random.choice(keys.profiles)
            body = {
                "account_id": profile["account_id"],
                "profile_id": profile["profile_id"],
                "event_type": random.choices(EVENT_TYPES, EVENT_WEIGHTS)[0],
                "payload": {"page": random.choice(PAGES), "session_id": random.choice(keys.sessions)},
            }
            self.client.post("/events", json=body, name="/events")


# --- wiring --------------------------------------------------------------------------------------
@events.init_command_line_parser.add_listener
def _add_arguments(parser) -> None:
    parser.add_argument(
        "--user-max-qps",
        type=float,
        default=DEFAULT_USER_MAX_QPS,
        include_in_web_ui=False,
        help="Highest request rate of one user; a rate R runs ceil(R / this) users (loadstack)",
    )
    parser.add_argument(
        "--loadstack-quit-on-lease-expiry",
        action="store_true",
        default=False,
        include_in_web_ui=False,
        help="Quit (with the workers) when a rate lease runs out without renewal: for a master a ramp starts (loadstack)",
    )


@events.test_start.add_listener
def _on_test_start(environment, **_kwargs) -> None:
    # Fired where Locust clears its stats for a new test (master and workers alike).
    control.stats_epoch += 1
    control.new_epoch()
    keys.clear()  # the app's data may have changed between tests


@events.reset_stats.add_listener
def _on_reset_stats(**_kwargs) -> None:
    control.stats_epoch += 1
    control.new_epoch()


def _on_user_qps(environment, msg, **_kwargs) -> None:
    control.user_qps = float(msg.data["qps"])


@events.init.add_listener
def _on_init(environment, runner, web_ui=None, **_kwargs) -> None:
    options = environment.parsed_options
    if options is not None and getattr(options, "user_max_qps", None) is not None:
        control.user_max_qps = float(options.user_max_qps)
    plan_users(0.0, control.user_max_qps)  # fail at start on a bad --user-max-qps
    if options is not None:
        control.quit_on_lease_expiry = bool(getattr(options, "loadstack_quit_on_lease_expiry", False))
    if not isinstance(runner, MasterRunner):
        # Workers pace on the master's messages; a local runner sends them to itself.
        runner.register_message(USER_QPS_MESSAGE, _on_user_qps)
    if isinstance(runner, MasterRunner):

        def on_worker_report(client_id: str, data: dict[str, Any], **_kw) -> None:
            # Registered after Locust's own listener, which has merged this report into the totals
            # by now; nothing yields in between, so a reader sees totals and times that agree.
            now = time.time()
            control.last_report_at = now
            control.worker_report_at[client_id] = now
            control.add_report(client_id, now, data.get("stats_total") or {})

        environment.events.worker_report.add_listener(on_worker_report)
        gevent.spawn(_lease_watchdog, environment)  # its own greenlet: runner.quit() kills the runner's
    if web_ui is not None:
        _add_routes(environment, web_ui)


def _complete_at(runner) -> float | None:
    """The time up to which the totals include every finished request."""
    if not isinstance(runner, MasterRunner):
        return time.time()  # a local runner's stats are live
    connected = [c.id for c in runner.clients.all if c.state != STATE_MISSING]
    times = [control.worker_report_at.get(worker) for worker in connected]
    if not times or None in times:
        return None
    return min(times)


def _missing_workers(runner) -> list[str]:
    """Workers the master has lost track of (no heartbeat for a few seconds): killed, hung or cut off."""
    if not isinstance(runner, MasterRunner):
        return []
    return sorted(c.id for c in runner.clients.all if c.state == STATE_MISSING)


def _worker_count(runner) -> int:
    return runner.worker_count if isinstance(runner, MasterRunner) else 1


def _add_routes(environment, web_ui) -> None:
    app = web_ui.app

    def rate_state() -> dict[str, Any]:
        runner = environment.runner
        users, user_qps = control.plan()
        running = runner.user_count
        in_effect_user_qps = control.sent_user_qps if isinstance(runner, MasterRunner) else control.user_qps
        return {
            "target_qps": control.target_qps,
            "planned_users": users,
            "planned_user_qps": user_qps,
            "running_users": running,
            "user_qps": in_effect_user_qps,
            "applied_qps": running * in_effect_user_qps,
            "user_max_qps": control.user_max_qps,
            "state": runner.state,
            "shape_running": runner.shape_greenlet is not None,
            "workers": _worker_count(runner),
            "host": environment.host,
            # Which locustfile this master runs: a ramp attaching to a standing master checks it is its own.
            "locustfile": os.path.basename(__file__),
            "time": time.time(),
            "missing_workers": _missing_workers(runner),
            **control.lease_state(time.time()),
        }

    @app.route("/loadstack/rate", methods=["GET", "POST"])
    @web_ui.auth_required_if_enabled
    def loadstack_rate():
        if request.method == "POST":
            try:
                qps = parse_rate_body(request.get_data())
                lease_s = parse_lease_body(request.get_data())
                plan_users(qps, control.user_max_qps)
            except ValueError as exc:
                return jsonify({"error": f"POST /loadstack/rate: {exc}"}), 400
            runner = environment.runner
            if qps > 0 and _worker_count(runner) == 0:
                return jsonify({"error": "POST /loadstack/rate: no Locust worker is connected: start one"}), 409
            if qps > 0 and not environment.host:
                message = "POST /loadstack/rate: this master has no target: POST /loadstack/target first"
                return jsonify({"error": message}), 409
            control.set_rate(qps, lease_s, time.time())
            if runner.shape_greenlet is None and environment.shape_class is not None and _worker_count(runner) > 0:
                # The first rate starts the shape (the master runs without --autostart), as does
                # the first one after a stop from the web UI.
                runner.start_shape()
        return jsonify(rate_state())

    @app.route("/loadstack/target", methods=["POST"])
    @web_ui.auth_required_if_enabled
    def loadstack_target():
        try:
            host = parse_target_body(request.get_data())
        except ValueError as exc:
            return jsonify({"error": f"POST /loadstack/target: {exc}"}), 400
        runner = environment.runner
        if host != environment.host:
            if control.target_qps > 0:
                message = (
                    f"POST /loadstack/target: this master is driving {environment.host} at "
                    f"{control.target_qps:g} QPS for another ramp: one ramp at a time, wait until it drains "
                    '(or POST /loadstack/rate {"qps": 0} if that ramp is gone)'
                )
                return jsonify({"error": message}), 409
            if runner.user_count > 0:
                message = f"POST /loadstack/target: {runner.user_count} users still run (draining): retry in a second"
                return jsonify({"error": message}), 503
            environment.host = host
        return jsonify(rate_state())

    @app.route("/loadstack/counters")
    @web_ui.auth_required_if_enabled
    def loadstack_counters():
        runner = environment.runner
        complete_at = _complete_at(runner)
        if isinstance(runner, MasterRunner) and complete_at is not None:
            totals = control.totals_as_of(complete_at)  # see the module docstring
        else:
            live = runner.stats.total
            totals = Totals(time.time(), live.num_requests, live.num_failures, dict(live.response_times))
        return jsonify(
            {
                "time": time.time(),
                "last_report_at": control.last_report_at if isinstance(runner, MasterRunner) else time.time(),
                "complete_at": complete_at,
                # Changes when Locust clears or resets its stats: the totals restarted at zero.
                "stats_epoch": control.stats_epoch,
                "requests": math.floor(totals.requests + 1e-9),
                "failures": math.floor(totals.failures + 1e-9),
                "response_times": histogram_pairs(totals.histogram),
                "workers": _worker_count(runner),
                "worker_requests": {worker: int(h[-1].requests) for worker, h in control.worker_totals.items()},
                "running_users": runner.user_count,
                "state": runner.state,
            }
        )
