"""Long-poll of an evaluation: ``GET /v1/evaluations/{id}?wait=S`` answers once the evaluation has
changed (its progress or its status) since the request arrived, at once when it has ended, and after S
seconds otherwise. A CI job hears of the decision when it is recorded, not at its next poll.

The runner announces every change of an evaluation (``changes.Change("evaluations", id)``): heard here
at once in this process and, on Postgres, by NOTIFY from the worker's. What cannot be heard (a lost
connection; on SQLite, any change made by another process) is caught by re-reading the evaluation every
``RECHECK_S`` seconds: often on SQLite, where a worker in another process is never heard and a read costs
well under a millisecond.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from typing import Any

import anyio.to_thread

from gatekeeper import changes
from gatekeeper.db import Database
from gatekeeper.evaluation.models import Evaluation

MAX_WAIT = 30.0  # the longest a long-poll may ask to wait, in seconds
RECHECK_S = {"sqlite": 0.05}  # seconds between re-reads by dialect; changes.MAX_AGE for the others
ENDED = ("done", "error")
Waiter = tuple[asyncio.AbstractEventLoop, "asyncio.Future[None]"]


def state_of(db: Database, evaluation_id: str) -> tuple[str, Any] | None:
    """(status, time of the last progress write), or None for no such evaluation."""
    try:
        key = uuid.UUID(evaluation_id)
    except ValueError:
        return None
    with db.session() as session:
        row = session.get(Evaluation, key)
        return None if row is None else (row.status, (row.progress or {}).get("at"))


class EvaluationWaits:
    """Requests waiting on evaluations, woken by announced changes from any thread."""

    def __init__(self, db: Database, *, max_wait: float = MAX_WAIT) -> None:
        self.db, self.max_wait = db, max_wait
        self.recheck = RECHECK_S.get(db.dialect, changes.MAX_AGE)
        self._epochs: dict[str, int] = {}  # per evaluation someone waits on: changes heard so far
        self._watching: dict[str, int] = {}  # how many requests wait on it
        self._waiters: dict[str, list[Waiter]] = {}
        self._lock = threading.Lock()
        changes.subscribe(db, self.on_change)

    def on_change(self, change: changes.Change) -> None:
        with self._lock:
            if change.kind == "all":
                ids = list(self._watching)
            elif change.kind == "evaluations" and change.target in self._watching:
                ids = [change.target]
            else:
                return
            woken = []
            for ident in ids:
                self._epochs[ident] = self._epochs.get(ident, 0) + 1
                woken += self._waiters.pop(ident, [])
        for loop, future in woken:
            loop.call_soon_threadsafe(_settle, future)

    async def wait(self, evaluation_id: str, timeout: float) -> None:
        """Return when the evaluation has ended or changed since the first read, or after ``timeout``."""
        with self._lock:
            self._watching[evaluation_id] = self._watching.get(evaluation_id, 0) + 1
        try:
            await self._wait(evaluation_id, time.monotonic() + min(timeout, self.max_wait))
        finally:
            with self._lock:
                self._watching[evaluation_id] -= 1
                if not self._watching[evaluation_id]:
                    del self._watching[evaluation_id]
                    self._epochs.pop(evaluation_id, None)

    async def _wait(self, evaluation_id: str, deadline: float) -> None:
        first = None
        while True:
            epoch = self._epochs.get(evaluation_id, 0)
            state = await anyio.to_thread.run_sync(state_of, self.db, evaluation_id)
            first = first or state
            left = deadline - time.monotonic()
            if state is None or state[0] in ENDED or state != first or left <= 0:
                return
            await self._changed(evaluation_id, epoch, min(left, self.recheck))

    async def _changed(self, evaluation_id: str, epoch: int, timeout: float) -> None:
        """Sleep until the evaluation is announced changed or ``timeout`` passes."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if self._epochs.get(evaluation_id, 0) != epoch:  # it changed while we read
                return
            self._waiters.setdefault(evaluation_id, []).append((loop, future))
        try:
            await asyncio.wait_for(future, timeout)
        except TimeoutError:
            pass
        finally:
            with self._lock:
                waiting = self._waiters.get(evaluation_id, [])
                if (loop, future) in waiting:
                    waiting.remove((loop, future))
                if not waiting:
                    self._waiters.pop(evaluation_id, None)


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
