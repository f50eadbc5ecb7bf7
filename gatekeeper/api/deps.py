"""Request dependencies as ``Annotated`` aliases, so handlers stay one screen long."""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Annotated, Any

from fastapi import Depends, Header, Query, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_dependant
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from gatekeeper.api.errors import RouteFacts, error_responses
from gatekeeper.clock import Clock
from gatekeeper.config import Settings
from gatekeeper.db import Database, committed
from gatekeeper.registry.auth import Actor, Role, TokenCache, authenticate

_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


# Dependencies that do no I/O are `async def`: FastAPI runs a sync dependency on a worker thread, and
# under load every extra hop waits for the GIL. Only authentication and the endpoint itself need one.


async def _database(request: Request) -> Database:
    return request.app.state.db


async def _settings(request: Request) -> Settings:
    return request.app.state.settings


async def _session(request: Request) -> AsyncIterator[Session]:
    """One transaction per request, rolled back on any error.

    The endpoint commits on its own worker thread (``TransactionalRoute``), so the commit here is a
    no-op for sync endpoints; it stays for any async one.
    """
    db: Database = request.app.state.db
    with db.session(write=request.method not in _READ_METHODS) as session, committed(session):
        yield session


async def _clock(request: Request) -> Clock:
    return request.app.state.clock


SessionDep = Annotated[Session, Depends(_session, scope="function")]
ClockDep = Annotated[Clock, Depends(_clock)]
SettingsDep = Annotated[Settings, Depends(_settings)]
DatabaseDep = Annotated[Database, Depends(_database)]


def _actor(request: Request, authorization: Annotated[str | None, Header()] = None) -> Actor:
    """A short session of its own: a connection is never held while the request waits for a thread."""
    db: Database = request.app.state.db
    with db.session() as session:
        return authenticate(session, authorization)


ActorDep = Annotated[Actor, Depends(_actor)]


async def _cached_actor(request: Request, authorization: Annotated[str | None, Header()] = None) -> Actor:
    """The fleet's routing read: a token checked in the last ``changes.MAX_AGE`` seconds is not read
    again (a revocation clears the cache when it commits)."""
    tokens: TokenCache = request.app.state.tokens
    return tokens.cached(authorization) or await run_in_threadpool(tokens.authenticate, authorization)


CachedReader = Annotated[Actor, Depends(_cached_actor)]


def require(*roles: Role):  # noqa: ANN201 - returns a FastAPI dependency
    """A dependency that authenticates and checks the role (admin always passes)."""

    async def _check(actor: ActorDep) -> Actor:
        actor.require(*roles)
        return actor

    _check.roles = roles  # type: ignore[attr-defined] # route_facts reads it: the route can answer 403
    return Depends(_check)


def _tree(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for dep in dependant.dependencies:
        yield from _tree(dep)


def route_facts(path: str, endpoint: Callable[..., Any], methods: Iterable[str] | None) -> RouteFacts:
    """Read from the endpoint's dependencies what it checks and takes (the bearer header is no input)."""
    tree = list(_tree(get_dependant(path=path, call=endpoint)))
    path_params = [p for d in tree for p in d.path_params]
    body = [p for d in tree for p in d.body_params]
    query = [
        p for d in tree for p in (*d.query_params, *d.header_params) if p.alias.lower() != "authorization"
    ]
    return RouteFacts(
        authenticated=any(d.call in (_actor, _cached_actor) for d in tree),
        restricted=any(getattr(d.call, "roles", None) for d in tree),
        path_params=bool(path_params),
        inputs=bool(path_params or body or query),
        body=bool(body),
        write=not set(methods or ["GET"]) <= _READ_METHODS,
    )


CI = Annotated[Actor, require(Role.CI)]
# Evidence (shadow records, metric windows, prediction logs, labels, online metrics) has its own
# poster: the serving layer. The CI job that submits a candidate never posts evidence about it.
Serving = Annotated[Actor, require(Role.SERVING)]
Oncall = Annotated[Actor, require(Role.ONCALL)]
Admin = Annotated[Actor, require(Role.ADMIN)]
Reader = ActorDep

# Query filters are bad input, not server errors, when Postgres could not store them: text holds no NUL
# byte and ids stop at BIGINT. Every text or id filter of the API uses these, so the refusal is a 422
# naming the parameter on both engines.
TextQuery = Annotated[str | None, Query(max_length=500, pattern=r"^[^\x00]*$")]
IdQuery = Annotated[int | None, Query(ge=0, le=2**63 - 1)]

# Safe retries of state changes (DESIGN, "Idempotency"): a key the caller makes up per intended change,
# and an expected current state (the champion's candidate id) in If-Match.
IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$")
]
IfMatch = Annotated[str | None, Header(alias="If-Match", max_length=200)]


def _commit_in_endpoint(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(endpoint)
    def run(**kwargs: Any) -> Any:
        result = endpoint(**kwargs)
        for value in kwargs.values():
            if isinstance(value, Session) and value.in_transaction():
                value.commit()
        return result

    return run


class TransactionalRoute(APIRoute):
    """Sync endpoints commit in their own worker thread, before FastAPI serialises the response.

    FastAPI serialises a sync endpoint's result on another worker thread, and only then runs the
    session dependency's exit. A transaction holding a row lock (a target during version assignment)
    would wait for a free thread while every thread waits for that lock: a deadlock as soon as
    concurrent requests on one row outnumber the threads. Committing here ends the lock first.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        facts = route_facts(path, endpoint, kwargs.get("methods"))
        kwargs["responses"] = error_responses(facts, kwargs.get("responses"))
        if set(kwargs.get("methods") or ()) == {"HEAD"}:  # a HEAD answer has headers and no body
            declared = kwargs["responses"].items()
            kwargs["responses"] = {s: {"description": r["description"]} for s, r in declared}
            kwargs["response_class"] = Response
        if not inspect.iscoroutinefunction(endpoint):
            endpoint = _commit_in_endpoint(endpoint)
        super().__init__(path, endpoint, **kwargs)
