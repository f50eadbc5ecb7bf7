"""The routing table as the fleet reads it: cached per process, answered with its generation as the
ETag, and awaited by long-polls.

An entry is dropped the moment a change to its target commits (``gatekeeper.changes``: in this process at
once, from other processes by NOTIFY on Postgres) and is never trusted longer than ``changes.MAX_AGE``
(SQLite writers in other processes, a lost listener). A read that began before a change never fills
the cache after it: every drop bumps the target's epoch and a load stores only if the epoch is unchanged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import anyio.to_thread

from gatekeeper import changes
from gatekeeper.canary.routing import routing as routing_table
from gatekeeper.db import Database

log = logging.getLogger("gatekeeper.routing")
MAX_WAIT = 30.0  # the longest a long-poll may ask to wait, in seconds


@dataclass(frozen=True)
class Entry:
    generation: int
    body: bytes
    loaded_at: float

    @property
    def etag(self) -> str:
        return f'"{self.generation}"'


def matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison: ``*``, or any listed tag equal to ``etag`` with or without ``W/``."""
    if not if_none_match:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


def answer(entry: Entry, if_none_match: str | None) -> tuple[int, dict[str, str], bytes]:
    """200 with the table, or 304 when the client holds the current generation; both carry the ETag."""
    headers = {"etag": entry.etag, "cache-control": "no-cache"}
    if matches(if_none_match, entry.etag):
        return 304, headers, b""
    return 200, {**headers, "content-type": "application/json"}, entry.body


class RoutingCache:
    """Routing entries per target name. Reads and waits run on the event loop; changes arrive on any
    thread (the committing one, the listener)."""

    def __init__(self, db: Database, *, max_wait: float = MAX_WAIT) -> None:
        self.db, self.max_wait = db, max_wait
        self._entries: dict[str, Entry] = {}
        self._loads: dict[str, tuple[int, asyncio.Future[Entry]]] = {}
        self._waits = changes.Waits()
        self._ahead = changes.RefreshAhead()
        changes.subscribe(db, self.on_change)

    def on_change(self, change: changes.Change) -> None:
        if change.kind == "routing" and change.target is not None:
            self._drop([change.target])
        elif change.kind == "all":
            self._drop(list({*self._entries, *self._waits.waited_on()}))

    def _drop(self, targets: list[str]) -> None:
        with self._waits.lock:  # the entries go with the epochs' bump: a load under the old one never stores
            for target in targets:
                self._entries.pop(target, None)
            self._waits.bump(list(targets))

    def fresh(self, target: str) -> Entry | None:
        """The cached entry if it may still be served, without waiting; past half its age a re-read
        starts in the background, so a polled entry is replaced before it expires."""
        entry = self._entries.get(target)
        if entry is None or not self._ahead.usable(target, entry.loaded_at, lambda: self._refresh(target)):
            return None
        return entry

    async def read(self, target: str) -> Entry:
        """The current entry, from the cache when it is fresh, else loaded."""
        if (entry := self.fresh(target)) is not None:
            return entry
        return await self._loaded(target)

    async def _refresh(self, target: str) -> None:
        try:
            await self._loaded(target)
        except Exception:  # the next read that needs it loads it again, and answers the error
            log.warning("routing re-read of %s failed", target, exc_info=True)

    async def _loaded(self, target: str) -> Entry:
        """Load the entry; a load already running joins only if it began after the last change."""
        epoch = self._waits.epoch(target)
        running = self._loads.get(target)
        if running is not None and running[0] == epoch:
            return await asyncio.shield(running[1])
        future: asyncio.Future[Entry] = asyncio.get_running_loop().create_future()
        self._loads[target] = (epoch, future)
        try:
            entry = await anyio.to_thread.run_sync(self._load, target, epoch)
            future.set_result(entry)
            return entry
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody joined
            raise
        finally:
            if self._loads.get(target, (None, None))[1] is future:
                del self._loads[target]

    def _load(self, target: str, epoch: int) -> Entry:
        started = time.monotonic()
        with self.db.session() as session:
            table = routing_table(session, target)
        entry = Entry(table.generation, table.model_dump_json().encode(), started)
        with self._waits.lock:
            if self._waits.epoch(target) == epoch:
                self._entries[target] = entry
        return entry

    async def wait_newer(self, target: str, generation: int, timeout: float) -> Entry:
        """Return once the target's generation differs from ``generation`` (newer, or another history
        after a restore), or after ``timeout`` seconds with the current entry."""
        deadline = time.monotonic() + min(timeout, self.max_wait)
        while True:
            epoch = self._waits.epoch(target)
            entry = await self.read(target)
            left = deadline - time.monotonic()
            if entry.generation != generation or left <= 0:
                return entry
            # a change we cannot hear is caught by the re-read after MAX_AGE
            await self._waits.sleep(target, epoch, min(left, changes.MAX_AGE))
