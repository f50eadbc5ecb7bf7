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
        self._watching: dict[str, int] = {}  # how many requests wait on each evaluation
        self._waits = changes.Waits()  # epochs of the evaluations someone waits on, and the sleepers
        changes.subscribe(db, self.on_change)

    def on_change(self, change: changes.Change) -> None:
        with self._waits.lock:
            if change.kind == "all":
                self._waits.bump(list(self._watching))
            elif change.kind == "evaluations" and change.target in self._watching:
                self._waits.bump([change.target])

    async def wait(self, evaluation_id: str, timeout: float) -> None:
        """Return when the evaluation has ended or changed since the first read, or after ``timeout``."""
        with self._waits.lock:
            self._watching[evaluation_id] = self._watching.get(evaluation_id, 0) + 1
        try:
            await self._wait(evaluation_id, time.monotonic() + min(timeout, self.max_wait))
        finally:
            with self._waits.lock:
                self._watching[evaluation_id] -= 1
                if not self._watching[evaluation_id]:
                    del self._watching[evaluation_id]
                    self._waits.forget(evaluation_id)

    async def _wait(self, evaluation_id: str, deadline: float) -> None:
        first = None
        while True:
            epoch = self._waits.epoch(evaluation_id)
            state = await anyio.to_thread.run_sync(state_of, self.db, evaluation_id)
            first = first or state
            left = deadline - time.monotonic()
            if state is None or state[0] in ENDED or state != first or left <= 0:
                return
            await self._waits.sleep(evaluation_id, epoch, min(left, self.recheck))
