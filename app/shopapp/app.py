"""The Starlette application: routes, the request middleware, and a lifespan that opens and closes
the database pool, the Redis client and the fault switch's refresh task.

`create_app` takes its collaborators ready-made (not yet opened), so tests can pass fakes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware

from shopapp.config import Settings
from shopapp.event_ids import EventIds
from shopapp.faults import FaultSwitch
from shopapp.metrics import Metrics
from shopapp.middleware import RequestMiddleware
from shopapp.routes import EXEMPT_FROM_FAULTS, ROUTES

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    store: Any  # database.EventStore or a stand-in with the same methods
    cache: Any  # cache.Cache or a stand-in
    ids: Any  # event_ids.EventIds or a stand-in
    faults: FaultSwitch
    metrics: Metrics


def create_app(
    settings: Settings,
    *,
    store: Any,
    cache: Any,
    ids: Any | None = None,
    faults: FaultSwitch | None = None,
    fault_interval: float = 1.0,
) -> Starlette:
    faults = faults or FaultSwitch(settings.static_fault, cache.read_fault, interval=fault_interval)
    services = Services(
        settings=settings,
        store=store,
        cache=cache,
        ids=ids if ids is not None else EventIds(cache.client, store.max_event_id),
        faults=faults,
        metrics=Metrics(faults),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await store.open()
        try:
            await cache.open()
            await services.ids.raise_floor()
            await faults.refresh()  # the first requests already see a fault set before the start
            refresher = asyncio.create_task(faults.run(), name="shopapp-fault-refresh")
            try:
                yield
            finally:
                refresher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await refresher
                await cache.close()
        finally:
            await store.close()
            log.info("shopapp %s: pools closed", settings.name)

    app = Starlette(
        routes=ROUTES,
        lifespan=lifespan,
        middleware=[
            Middleware(
                RequestMiddleware,
                routes=ROUTES,
                metrics=services.metrics,
                faults=services.faults,
                exempt=EXEMPT_FROM_FAULTS,
            )
        ],
    )
    app.state.services = services
    return app
