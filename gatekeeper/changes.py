"""Committed changes that in-process caches, workers and long-polls must learn of at once: a routing
generation bump, a revoked token, a queued job, an evaluation's progress. A change is announced inside
the transaction that makes it and published only after that transaction commits, so a rollback
publishes nothing:

- in this process, to every subscriber of the same database, synchronously in ``after_commit`` (the
  writer's next read already misses the cache);
- to other processes on Postgres, by ``NOTIFY`` on ``CHANNEL`` in the same transaction (Postgres delivers
  it at commit, never for a rollback) and a ``Watcher`` thread per API or worker process that ``LISTEN``s.

SQLite has no cross-process signal: caches bound how long they trust an entry (``MAX_AGE``) instead, and so
do they on Postgres, which covers a lost connection or a restored backup; workers poll more often there.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import asdict, dataclass
from typing import Literal

import psycopg
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session, SessionTransaction

from gatekeeper.db import Database, is_postgres

log = logging.getLogger("gatekeeper.changes")
CHANNEL = "gatekeeper_changes"
MAX_AGE = 0.5  # seconds a cache may serve an entry without re-reading it: a change shows within 1 s
_PENDING = "gatekeeper.changes.pending"

Kind = Literal["routing", "tokens", "jobs", "evaluations", "all"]


@dataclass(frozen=True)
class Change:
    """``routing`` of one target (its new generation), ``tokens`` (one was revoked), ``jobs`` (one was
    queued: ``target`` carries its kind), ``evaluations`` (one's progress or status: ``target`` carries its
    id), or ``all`` (anything may have changed: the listener reconnected and may have missed
    notifications)."""

    kind: Kind
    target: str | None = None
    generation: int | None = None

    def encode(self) -> str:
        return json.dumps({k: v for k, v in asdict(self).items() if v is not None})

    @classmethod
    def decode(cls, payload: str) -> Change:
        try:
            return cls(**json.loads(payload))
        except (ValueError, TypeError):  # not ours, or from another version: assume the worst
            return cls("all")


Subscriber = Callable[[Change], None]
_subscribers: dict[str, list[weakref.WeakMethod[Subscriber]]] = {}
_lock = threading.Lock()


def database_key(db: Database | Engine) -> str:
    engine = db.engine if isinstance(db, Database) else db
    return engine.url.render_as_string(hide_password=True)


def subscribe(db: Database, method: Subscriber) -> None:
    """Call the bound ``method`` with every change this process commits to ``db``, for as long as its
    object lives (held weakly: an app dropped by a test unsubscribes itself)."""
    with _lock:
        live = [ref for ref in _subscribers.get(database_key(db), []) if ref() is not None]
        _subscribers[database_key(db)] = [*live, weakref.WeakMethod(method)]  # type: ignore[arg-type]


def publish(key: str, change: Change) -> None:
    with _lock:
        methods = [m for ref in _subscribers.get(key, []) if (m := ref()) is not None]
    for method in methods:
        try:
            method(change)
        except Exception:  # a cache must never break the writer's commit
            log.exception("change subscriber failed on %s", change)


def announce(session: Session, change: Change) -> None:
    """Publish ``change`` once the session's transaction commits (never if it rolls back)."""
    key = database_key(session.get_bind().engine)
    session.info.setdefault(_PENDING, []).append((key, change))
    if is_postgres(session):
        session.execute(select(func.pg_notify(CHANNEL, change.encode())))


@event.listens_for(Session, "after_commit")
def _published(session: Session) -> None:
    for key, change in session.info.pop(_PENDING, []):
        publish(key, change)


@event.listens_for(Session, "after_transaction_end")
def _dropped(session: Session, transaction: SessionTransaction) -> None:
    """A root transaction that ends uncommitted publishes nothing (a commit's changes were taken by
    ``after_commit`` before it ends). A savepoint's end leaves the outer transaction's changes pending:
    ``after_rollback`` also fires for a savepoint rolled back inside a transaction that then commits, and
    dropping there lost a promotion's routing change (a spurious invalidation is harmless, a lost one is
    not)."""
    if transaction.parent is None:
        session.info.pop(_PENDING, None)


class Watcher:
    """On Postgres, a thread that ``LISTEN``s on a connection of its own and hands each change to
    ``deliver``; on SQLite it does nothing (the in-process publish, ``MAX_AGE`` and the worker's poll
    are all there is)."""

    def __init__(self, db: Database, deliver: Subscriber) -> None:
        self.db, self.deliver = db, deliver
        self.listening = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.db.dialect != "postgresql" or self._thread is not None:
            return
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gatekeeper-changes", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        dsn = self.db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        while not self._stop.is_set():
            try:
                with psycopg.connect(dsn, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    self.deliver(Change("all"))  # whatever changed before we listened
                    self._relay(conn)
            except psycopg.Error:
                log.warning("change listener lost its connection; retrying", exc_info=True)
            self.listening.clear()
            self._stop.wait(1.0)

    def _relay(self, conn: psycopg.Connection) -> None:
        while not self._stop.is_set():
            for note in conn.notifies(timeout=0.25):
                self.deliver(Change.decode(note.payload))


class RefreshAhead:
    """When a cached entry may be served: for ``MAX_AGE`` after it was read, and past half of that it is
    re-read once in the background, so an entry in steady use is replaced before it expires."""

    def __init__(self) -> None:
        self._pending: set[Hashable] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def usable(self, key: Hashable, read_at: float, refresh: Callable[[], Awaitable[None]]) -> bool:
        """Whether the entry read at ``read_at`` (monotonic) may be served; schedules ``refresh`` when due."""
        age = time.monotonic() - read_at
        if age >= MAX_AGE:
            return False
        if age >= MAX_AGE / 2 and key not in self._pending:
            self._pending.add(key)
            task = asyncio.get_running_loop().create_task(self._run(key, refresh))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return True

    async def _run(self, key: Hashable, refresh: Callable[[], Awaitable[None]]) -> None:
        try:
            await refresh()
        finally:
            self._pending.discard(key)


class Waits:
    """Per-key epochs (changes heard so far) and the requests sleeping on each key. A change arrives on
    any thread (the committing one, the listener): ``bump`` counts it and wakes the key's sleepers on
    their own loops. A sleeper gives the epoch it read under, so a change between its read and its sleep
    is never missed. ``lock`` is re-entrant: an owner may hold it around its own state and a ``bump``."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._epochs: dict[Hashable, int] = {}
        self._sleepers: dict[Hashable, list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]]] = {}

    def epoch(self, key: Hashable) -> int:
        return self._epochs.get(key, 0)

    def waited_on(self) -> list[Hashable]:
        return list(self._sleepers)

    def forget(self, key: Hashable) -> None:
        with self.lock:
            self._epochs.pop(key, None)

    def bump(self, keys: list[Hashable]) -> None:
        woken = []
        with self.lock:
            for key in keys:
                self._epochs[key] = self._epochs.get(key, 0) + 1
                woken += self._sleepers.pop(key, [])
        for loop, future in woken:
            loop.call_soon_threadsafe(_settle, future)

    async def sleep(self, key: Hashable, epoch: int, timeout: float) -> None:
        """Until ``key`` changes after ``epoch`` or ``timeout`` passes (the caller then re-reads)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self.lock:
            if self.epoch(key) != epoch:  # it changed while the caller read
                return
            self._sleepers.setdefault(key, []).append((loop, future))
        try:
            await asyncio.wait_for(future, timeout)
        except TimeoutError:
            pass
        finally:  # woken, timed out or the client left: no longer sleeping
            with self.lock:
                sleeping = self._sleepers.get(key, [])
                if (loop, future) in sleeping:
                    sleeping.remove((loop, future))
                if not sleeping:
                    self._sleepers.pop(key, None)


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
