"""`HAProxyShiftDriver`: live traffic moved between a production pool and the stack's pool by HAProxy weights.

`use_backend` has no weights, so both pools' servers sit in one backend and a pool's share is the sum
of its servers' weights over the sum of all (exact under roundrobin: see the notes on HAProxy runtime
weights). The pools' weights always sum to 256, HAProxy's largest server weight, so a unit of weight
is 1/256 of the live traffic and no server can be asked for more than 256. Within a pool the weight is
spread evenly, the remainder going to the first servers named.

Every `set_rate` reads the weights back from `show stat` and fails naming the server whose weight did
not take; the rate returned (and `applied_rate`) is computed from what HAProxy reports, counting only
servers that take traffic (UP, or no health check): a stack server that is DOWN sends its share to
the other servers, and the rate says so.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from loadstack.haproxy.config import MAX_WEIGHT, check_name
from loadstack.haproxy.runtime import HAProxyRuntime, RuntimeAPIError, StatRow
from loadstack.ramp.traffic import TrafficDriver, TrafficDriverError
from loadstack.shift.weights import Weights, WeightSplit

log = logging.getLogger(__name__)

# HAProxy applies a weight to the very next request (measured: the first 100 ms window after a `set
# weight` already had the new split); requests already sent to a server at the old weights finish within
# the app's response time. Half a second covers both with room to spare.
SETTLE_S = 0.5
_NO_CHECK = "no check"


def takes_traffic(row: StatRow) -> bool:
    """Whether the balancer sends new requests to this server: UP (also "UP 1/2", going down), or unchecked."""
    return row.is_up or row.status == _NO_CHECK


def spread(total: int, servers: Sequence[str]) -> dict[str, int]:
    """`total` weight over `servers` as evenly as integers allow; the first servers get the remainder."""
    base, extra = divmod(total, len(servers))
    return {server: base + (1 if i < extra else 0) for i, server in enumerate(servers)}


class HAProxyShiftDriver(TrafficDriver):
    """Shift live traffic onto `stack_servers` away from `production_servers`, both in HAProxy `backend`.

    runtime:  the proxy's admin-socket client (`HAProxyServer.runtime_api()`); the proxy is not ours to stop.
    live_qps: the live traffic the proxy receives, an estimate; update it through `live_qps` as it moves.
    """

    settle_s = SETTLE_S

    def __init__(
        self,
        *,
        runtime: HAProxyRuntime,
        backend: str,
        production_servers: Sequence[str],
        stack_servers: Sequence[str],
        live_qps: float,
    ) -> None:
        self.runtime = runtime
        self.backend = check_name(backend, "backend")
        self.production_servers = tuple(check_name(s, "production server") for s in production_servers)
        self.stack_servers = tuple(check_name(s, "stack server") for s in stack_servers)
        for what, pool in (("production_servers", self.production_servers), ("stack_servers", self.stack_servers)):
            if not pool:
                raise ValueError(f"HAProxy backend {backend}: {what} is empty; name at least one server of that pool")
            repeated = sorted({s for s in pool if pool.count(s) > 1})
            if repeated:
                raise ValueError(f"HAProxy backend {backend}: {what} names {', '.join(repeated)} more than once")
        both = sorted(set(self.production_servers) & set(self.stack_servers))
        if both:
            raise ValueError(
                f"HAProxy backend {backend}: server(s) {', '.join(both)} are in both pools; a server belongs to "
                "production or to the stack"
            )
        self.split = WeightSplit(live_qps=live_qps, max_weight=MAX_WEIGHT, target=f"HAProxy backend {backend}")
        self.last: Weights | None = None

    def __repr__(self) -> str:
        return (
            f"HAProxyShiftDriver({self.runtime!r}, backend={self.backend!r}, "
            f"production={list(self.production_servers)}, stack={list(self.stack_servers)})"
        )

    @property
    def live_qps(self) -> float:
        return self.split.live_qps

    @live_qps.setter
    def live_qps(self, value: float) -> None:
        self.split.live_qps = value

    def server_weights(self, weights: Weights) -> dict[str, int]:
        """Each server's weight for a split, production's servers first: each pool's weight spread over its servers."""
        return {**spread(weights.production, self.production_servers), **spread(weights.stack, self.stack_servers)}

    # --- the TrafficDriver ----------------------------------------------------------------------------------
    def set_rate(self, qps: float) -> float:
        weights = self.split.weights_for(qps)
        if weights.clamped:
            log.warning("%s", weights.clamp)
        wanted = self.server_weights(weights)
        self._rows()  # every server named is in the backend: nothing is written for a shift that cannot be whole
        try:
            # Production's servers first, then the stack's, and every server of a pool moves the same way as
            # its pool (`spread`), so each pool's total only moves from its old value toward its new one: while
            # the weights are half written the stack's share lies between the old and the new one (never beyond
            # what was asked), and production never passes through zero.
            self.runtime.set_weights(self.backend, wanted)
        except (OSError, RuntimeAPIError) as error:
            raise TrafficDriverError(
                f"HAProxy backend {self.backend}: setting weights {wanted} through {self.runtime.socket_path} "
                f"failed: {error}"
            ) from None
        rows = self._rows()
        for name, weight in wanted.items():
            reported = rows[name].weight
            if reported != weight:
                raise TrafficDriverError(
                    f"HAProxy backend {self.backend}: server {name} reports weight {reported} after it was set to "
                    f"{weight}; something else is changing weights on {self.runtime.socket_path} (another shift "
                    "or an operator): stop it and drain this ramp"
                )
        self.last = weights
        return self._applied(rows)

    def applied_rate(self) -> float:
        return self._applied(self._rows())

    def drain(self) -> None:
        """All weight back on production (the stack's servers at 0, production's summing to 256)."""
        self.set_rate(0.0)

    def close(self) -> None:
        """Drain; the proxy and its servers belong to the stack, not to this driver, and keep running."""
        self.drain()

    # --- reading back ---------------------------------------------------------------------------------------
    def _rows(self) -> dict[str, StatRow]:
        try:
            rows = {row.name: row for row in self.runtime.servers(self.backend)}
        except (OSError, RuntimeAPIError) as error:
            raise TrafficDriverError(
                f"HAProxy backend {self.backend}: reading its servers through {self.runtime.socket_path} failed: "
                f"{error}; is the proxy running?"
            ) from None
        missing = [name for name in (*self.production_servers, *self.stack_servers) if name not in rows]
        if missing:
            raise TrafficDriverError(
                f"HAProxy backend {self.backend} has no server(s) {', '.join(missing)} (it has "
                f"{', '.join(sorted(rows)) or 'none'}); name the servers of its config in the shift's pools"
            )
        return rows

    def _applied(self, rows: Mapping[str, StatRow]) -> float:
        def pool(names: Sequence[str]) -> int:
            return sum(rows[name].weight or 0 for name in names if takes_traffic(rows[name]))

        return self.split.qps_for(pool(self.stack_servers), pool(self.production_servers))
