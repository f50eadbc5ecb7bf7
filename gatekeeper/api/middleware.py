"""ASGI middleware: a hard cap on request bodies, Prometheus request metrics, and the routing read's
cache hits answered before FastAPI."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gatekeeper.canary.routing_cache import RoutingCache, answer
from gatekeeper.registry.auth import TokenCache


class _TooLarge(Exception):
    pass


async def _reject(send: Send, limit: int) -> None:
    body = json.dumps(
        {"detail": f"request body exceeds the {limit} byte limit", "limit_bytes": limit}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """Refuse bodies over ``limit`` bytes with 413, whether or not Content-Length is honest.

    Paths that start with one of ``exempt`` (artifact uploads) or end with one of ``exempt_ends`` (bulk
    prediction logs) stream to disk and enforce a limit of their own.
    """

    def __init__(
        self, app: ASGIApp, limit: int, exempt: tuple[str, ...] = (), exempt_ends: tuple[str, ...] = ()
    ) -> None:
        self.app, self.limit, self.exempt, self.exempt_ends = app, limit, exempt, exempt_ends

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        streamed = scope["type"] == "http" and (
            scope["path"].startswith(self.exempt) or scope["path"].endswith(self.exempt_ends)
        )
        if scope["type"] != "http" or streamed:
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await _reject(send, self.limit)
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracking_send)
        except _TooLarge:
            if not started:
                await _reject(send, self.limit)


class RequestMetrics:
    """Request counters and latency histograms, labelled by route template (not raw path)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "gatekeeper_http_requests_total",
            "HTTP requests",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "gatekeeper_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=registry,
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
        )
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Label lookups cached per (method, route, status): they were half the cost of a routing hit."""
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = (self.requests.labels(method, route, str(status)), self.latency.labels(method, route))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)


ACCESS = logging.getLogger("gatekeeper.access")  # uvicorn's access format (gatekeeper serve)
ROUTING_PATH = "/v1/targets/{target}/routing"


class Metrics:
    """Count, time and log every request that reaches the app's middleware stack."""

    def __init__(self, app: ASGIApp, metrics: RequestMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status: dict[str, Any] = {"code": 500}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, capture)
        finally:
            name = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.observe(scope["method"], name, status["code"], time.perf_counter() - started)
            _access_line(scope, name, status["code"])


def _access_line(scope: Scope, route: str, status: int) -> None:
    """uvicorn's access line, written here so that the fleet's successful routing reads (thousands a
    second, all counted in the metrics) can stay out of it: ``gatekeeper serve`` turns uvicorn's off."""
    if (route == ROUTING_PATH and status in (200, 304)) or not ACCESS.isEnabledFor(logging.INFO):
        return
    client = scope.get("client")
    query = scope.get("query_string", b"").decode("latin-1")
    path = scope["path"] + (f"?{query}" if query else "")
    address = f"{client[0]}:{client[1]}" if client else "-"
    ACCESS.info('%s - "%s %s HTTP/%s" %d', address, scope["method"], path, scope["http_version"], status)


class CachedRoutingRead:
    """A fleet's plain poll of ``GET /v1/targets/{t}/routing`` whose token and table are both cached is
    answered before FastAPI, from the same cache and with the same answer as the route: FastAPI's
    routing and dependency resolution cost several times the answer itself. Anything else (a miss, a
    long-poll, an unknown token) goes on to the route. Hits are counted in the request metrics."""

    def __init__(self, routing: RoutingCache, tokens: TokenCache, metrics: RequestMetrics) -> None:
        self.routing, self.tokens, self.metrics = routing, tokens, metrics

    async def answered(self, scope: Scope, send: Send) -> bool:
        """Answer the request if it is a cache hit; False (nothing sent) otherwise."""
        started = time.perf_counter()
        hit = self._hit(scope) if scope["type"] == "http" else None
        if hit is None:
            return False
        status, headers, body = hit
        raw = [(k.encode(), v.encode()) for k, v in headers.items()]
        raw.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body})
        self.metrics.observe("GET", ROUTING_PATH, status, time.perf_counter() - started)
        return True

    def _hit(self, scope: Scope) -> tuple[int, dict[str, str], bytes] | None:
        path: str = scope["path"]
        if scope["method"] != "GET" or scope["query_string"] or not path.endswith("/routing"):
            return None
        target = path[len("/v1/targets/") : -len("/routing")]
        if not path.startswith("/v1/targets/") or not target or "/" in target:
            return None
        headers = dict(scope["headers"])
        authorization = headers.get(b"authorization")
        if authorization is None or self.tokens.cached(authorization.decode("latin-1")) is None:
            return None
        entry = self.routing.fresh(target)
        if entry is None:
            return None
        if_none_match = headers.get(b"if-none-match")
        return answer(entry, if_none_match.decode("latin-1") if if_none_match is not None else None)
