"""Request dependencies as ``Annotated`` aliases, so handlers stay one screen long."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.orm import Session

from gatekeeper.clock import Clock
from gatekeeper.config import Settings
from gatekeeper.db import Database
from gatekeeper.registry.auth import Actor, Role, authenticate

_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _database(request: Request) -> Database:
    return request.app.state.db


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _session(request: Request) -> Iterator[Session]:
    """One transaction per request: committed before the response, rolled back on any error."""
    db: Database = request.app.state.db
    with db.session(write=request.method not in _READ_METHODS) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def _clock(request: Request) -> Clock:
    return request.app.state.clock


SessionDep = Annotated[Session, Depends(_session, scope="function")]
ClockDep = Annotated[Clock, Depends(_clock)]
SettingsDep = Annotated[Settings, Depends(_settings)]
DatabaseDep = Annotated[Database, Depends(_database)]


def _actor(request: Request, authorization: Annotated[str | None, Header()] = None) -> Actor:
    db: Database = request.app.state.db
    with db.session() as session:
        return authenticate(session, authorization)


ActorDep = Annotated[Actor, Depends(_actor)]


def require(*roles: Role):  # noqa: ANN201 - returns a FastAPI dependency
    """A dependency that authenticates and checks the role (admin always passes)."""

    def _check(actor: ActorDep) -> Actor:
        actor.require(*roles)
        return actor

    return Depends(_check)


CI = Annotated[Actor, require(Role.CI)]
Oncall = Annotated[Actor, require(Role.ONCALL)]
Admin = Annotated[Actor, require(Role.ADMIN)]
Reader = ActorDep
