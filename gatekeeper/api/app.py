"""The FastAPI application: routers, error mapping, body cap, health and Prometheus metrics."""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from pydantic import BaseModel
from sqlalchemy import func, select, text
from starlette.types import Receive, Scope, Send

from gatekeeper import __version__, changes
from gatekeeper.api import errors
from gatekeeper.api.middleware import BodyLimit, CachedRoutingRead, Metrics, RequestMetrics
from gatekeeper.canary.routing_cache import RoutingCache
from gatekeeper.clock import Clock, SystemClock
from gatekeeper.config import Settings, get_settings
from gatekeeper.db import Database
from gatekeeper.evaluation.waits import EvaluationWaits
from gatekeeper.registry.api import router as registry_router
from gatekeeper.registry.auth import TokenCache
from gatekeeper.registry.models import Candidate, Target

log = logging.getLogger("gatekeeper.api")


class _RegistryCollector:
    """Candidates per target and status, read at scrape time so the numbers are never stale."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self):  # noqa: ANN201 - prometheus collector protocol
        gauge = GaugeMetricFamily(
            "gatekeeper_candidates", "Candidates by target and status", labels=["target", "status"]
        )
        try:
            with self.db.session() as session:
                rows = session.execute(
                    select(Target.name, Candidate.status, func.count())
                    .join(Candidate, Candidate.target_id == Target.id)
                    .group_by(Target.name, Candidate.status)
                )
                for target, status, count in rows:
                    gauge.add_metric([target, status], count)
        except Exception:  # a scrape must never fail because the database blinked
            log.warning("metrics: registry query failed", exc_info=True)
        yield gauge


class HealthRead(BaseModel):
    status: Literal["ok", "degraded"]
    database: str


class GatekeeperAPI(FastAPI):
    """FastAPI, with the fleet's cached routing reads answered before its routing (``CachedRoutingRead``)."""

    fast_path: CachedRoutingRead | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.fast_path is not None and await self.fast_path.answered(scope, send):
            return
        await super().__call__(scope, receive, send)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Bounded worker threads: under a burst, requests queue in the event loop instead of 40
    # threads thrashing the GIL while one of them holds a target's row lock.
    anyio.to_thread.current_default_thread_limiter().total_tokens = app.state.settings.api_threads
    app.state.watcher.start()
    try:
        yield
    finally:
        await anyio.to_thread.run_sync(app.state.watcher.stop)


def create_app(
    settings: Settings | None = None, db: Database | None = None, clock: Clock | None = None
) -> FastAPI:
    """The API: the domain routers, the ops probes, the error handlers and the middleware."""
    settings = settings or get_settings()
    if db is None:
        db = _database(settings)

    app = GatekeeperAPI(
        lifespan=_lifespan,
        title="Gatekeeper",
        version=__version__,
        description="Registry, offline gate, shadow, canary and auto-abort for MangaAssist models. "
        "Send `Authorization: Bearer <token>` on every /v1 route.",
    )
    app.state.settings, app.state.db, app.state.clock = settings, db, clock or SystemClock()
    prometheus = CollectorRegistry()
    prometheus.register(_RegistryCollector(db))
    app.state.prometheus = prometheus
    metrics = RequestMetrics(prometheus)
    _caches(app, db, metrics)
    errors.install(app)
    app.include_router(registry_router)
    for router in _domain_routers():
        app.include_router(router)
    _ops_routes(app, db, prometheus)
    app.add_middleware(Metrics, metrics=metrics)
    streamed = {"exempt": ("/v1/artifacts/",), "exempt_ends": ("/prediction-logs/bulk",)}
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes, **streamed)
    return app


def _caches(app: GatekeeperAPI, db: Database, metrics: RequestMetrics) -> None:
    """The routing and token caches and the evaluation long-polls, the listener that keeps them current
    across processes (started with the app), and the cached routing reads answered before FastAPI
    (DESIGN 4.3)."""
    app.state.routing, app.state.tokens = RoutingCache(db), TokenCache(db)  # both subscribe to db
    app.state.evaluation_waits = EvaluationWaits(db)  # long-polls of evaluations, subscribed too
    app.state.watcher = changes.Watcher(db, functools.partial(changes.publish, changes.database_key(db)))
    app.fast_path = CachedRoutingRead(app.state.routing, app.state.tokens, metrics)


def _database(settings: Settings) -> Database:
    """The API's own engine: a pool as large as its worker threads (SQLite needs none)."""
    pool = (
        {}
        if settings.is_sqlite
        else {"pool_size": settings.api_threads, "max_overflow": settings.api_threads}
    )
    return Database.from_url(settings.database_url, **pool)


def _ops_routes(app: FastAPI, db: Database, prometheus: CollectorRegistry) -> None:
    """The health probe and the Prometheus scrape, outside /v1 and without a token."""

    @app.get(
        "/healthz",
        tags=["ops"],
        response_model=HealthRead,
        responses={503: {"model": HealthRead, "description": "the database does not answer"}},
    )
    def healthz() -> JSONResponse:
        try:
            with db.session() as session:
                session.execute(text("SELECT 1"))
            return JSONResponse({"status": "ok", "database": "ok"})
        except Exception as exc:  # report, don't raise: the probe must get an answer
            return JSONResponse(
                {"status": "degraded", "database": f"error: {type(exc).__name__}"}, status_code=503
            )

    @app.get("/metrics", tags=["ops"], response_class=PlainTextResponse)
    def metrics(_: Request) -> PlainTextResponse:
        return PlainTextResponse(generate_latest(prometheus).decode(), media_type=CONTENT_TYPE_LATEST)


def _domain_routers() -> list:
    from gatekeeper.artifacts.api import router as artifacts_router
    from gatekeeper.canary.api import router as canary_router
    from gatekeeper.drift.api import router as drift_router
    from gatekeeper.evaluation.api import router as evaluation_router
    from gatekeeper.promotion.api import router as promotion_router

    return [evaluation_router, promotion_router, canary_router, drift_router, artifacts_router]
