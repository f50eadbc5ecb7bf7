"""Engine, sessions and the column types that behave the same on SQLite and Postgres.

Writes on SQLite start with ``BEGIN IMMEDIATE`` so two writers queue on the database lock instead of
failing half-way with "database is locked"; Postgres writers use row locks (``FOR UPDATE``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import JSON, DateTime, Engine, Index, MetaData, create_engine, event, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import NullPool, QueuePool
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both engines (SQLite would otherwise hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: pass an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")


def partial_unique(name: str, *columns: str, where: str) -> Index:
    """A unique index over the rows that match ``where``, on Postgres and SQLite alike (the condition is
    written once, so the two engines cannot drift apart)."""
    return partial_index(name, *columns, where=where, unique=True)


def partial_index(name: str, *columns: str, where: str, unique: bool = False) -> Index:
    """An index over the rows that match ``where``, on Postgres and SQLite alike."""
    return Index(name, *columns, unique=unique, postgresql_where=text(where), sqlite_where=text(where))


def _prepare_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (below)
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("gk_write") else "BEGIN")


def _sqlite_pool(on_disk: bool) -> dict[str, Any]:
    """A few connections kept open: opening one (and its PRAGMAs) cost a daemon tick more than its
    queries. Past ``pool_size`` a burst still opens connections without limit and closes them after,
    because SQLite queues writers on its file lock, not on the pool. ``:memory:`` gets a fresh database
    per connection, as before."""
    if not on_disk:
        return {"poolclass": NullPool}
    return {"poolclass": QueuePool, "pool_size": 5, "max_overflow": -1}


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite files get their folder created and a real transaction mode."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        on_disk = bool(path) and path != ":memory:"
        if on_disk:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"check_same_thread": False})
        engine = create_engine(url, **_sqlite_pool(on_disk), **kwargs)
        _prepare_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 40)
    return create_engine(url, **kwargs)


@contextmanager
def committed(session: Session) -> Iterator[Session]:
    """Commit the session when the block succeeds; roll it back on any error, and re-raise."""
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise


@dataclass
class Database:
    """The engine plus two session factories: read sessions and write sessions."""

    engine: Engine

    def __post_init__(self) -> None:
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(self.engine.execution_options(gk_write=True), expire_on_commit=False)

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Database:
        return cls(make_engine(url, **kwargs))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self, *, write: bool = False) -> Session:
        return (self._write if write else self._read)()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One write transaction: commit on success, roll back everything on any error."""
        with self._write() as session, committed(session):
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


M = TypeVar("M")


def get_by_id(
    session: Session, model: type[M], ident: object, *, what: str, field: str, lock: bool = False
) -> M:
    """Fetch a row by its UUID (``lock``: ``FOR UPDATE``, refreshed), or raise NotFound naming it.

    A malformed id is the same answer as an unknown one: 404, never a 500.
    """
    from gatekeeper.errors import NotFound

    try:
        key = ident if isinstance(ident, uuid.UUID) else uuid.UUID(str(ident))
    except ValueError:
        raise NotFound(f"no {what} {ident}", field=field) from None
    row = session.get(model, key, with_for_update=lock, populate_existing=lock)
    if row is None:
        raise NotFound(f"no {what} {ident}", field=field)
    return row
