"""Around every HTTP request: its route template, the fault switch, and the metrics.

A pure ASGI middleware (not BaseHTTPMiddleware, which costs a task and a stream per request). The
route label is the template of the matching route ("/profiles/{id}/events", never the raw path,
which would make one time series per profile); paths that match no route share "unmatched".

Injected faults apply to every route except the `exempt` ones (health, metrics and the load
generators' key sample: a fault must show as a breach in the app's metrics, not blind Prometheus,
the gates or the load generator). An injected 500 is recorded in the metrics like any other
response, and so is a 500 from an unhandled error (Starlette's outer error middleware sends it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence

from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shopapp.faults import FaultSwitch
from shopapp.metrics import Metrics

UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        routes: Sequence[BaseRoute],
        metrics: Metrics,
        faults: FaultSwitch,
        exempt: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.routes = routes
        self.metrics = metrics
        self.faults = faults
        self.exempt = frozenset(exempt)

    def route_template(self, scope: Scope) -> str:
        """The template of the route Starlette's router would choose: the first full match, else the
        first partial one (the path matches, the method does not: a 405)."""
        partial = None
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return getattr(route, "path", UNMATCHED)
            if match is Match.PARTIAL and partial is None:
                partial = route
        return getattr(partial, "path", UNMATCHED)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method = scope["method"] if scope["method"] in METHODS else "OTHER"
        status = 500  # what the client gets if the app raises before answering
        route: str | None = None

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            # The exempt routes are fixed paths: no matching needed to tell them.
            if scope["path"] not in self.exempt:
                latency, fail = self.faults.decide()
                if latency > 0:
                    await asyncio.sleep(latency)
                if fail:
                    route = self.route_template(scope)
                    response = JSONResponse({"error": "injected fault (shopapp fault switch)"}, status_code=500)
                    await response(scope, receive, send_and_note)
                    return
            await self.app(scope, receive, send_and_note)
        finally:
            if route is None:
                # Starlette's router leaves the route it chose in the scope; matching again costs time.
                chosen = scope.get("route")
                route = getattr(chosen, "path", None) or self.route_template(scope)
            self.metrics.observe(route, method, status, time.perf_counter() - started)
