"""``gatekeeper worker``: claims jobs from the database queue and runs them, renewing its lease from
a heartbeat thread so that a crash (not a slow job) is what hands a job to another worker. An idle worker
wakes when a job is queued (``changes``: NOTIFY on Postgres, in-process on either engine) and polls
anyway, for what no one announces (a job whose ``run_after`` has come, a missed notification)."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy.orm import Session

from gatekeeper import changes
from gatekeeper.clock import Clock, SystemClock
from gatekeeper.config import Settings
from gatekeeper.db import Database
from gatekeeper.jobs import queue
from gatekeeper.jobs.models import Job

log = logging.getLogger("gatekeeper.worker")
STOP_CHECK_S = 0.1  # how often an idle worker looks at its stop signal
# Seconds between an idle worker's polls: on Postgres NOTIFY wakes it, the poll is a fallback; SQLite has
# no signal across processes (an API in another process), so it polls often (a poll is one read of an
# index, well under a millisecond, and takes no lock).
POLL_SECONDS = {"postgresql": 1.0, "sqlite": 0.05}


def poll_seconds_for(dialect: str) -> float:
    return POLL_SECONDS.get(dialect, 1.0)


@dataclass
class JobContext:
    """What a handler gets: the job's identity and payload, the database, and a stop signal."""

    db: Database
    settings: Settings
    clock: Clock
    job_id: uuid.UUID
    ref_id: str
    payload: dict[str, Any]
    attempt: int
    lost: threading.Event = field(default_factory=threading.Event)
    echo: Callable[[str], None] = print


class Handler(Protocol):
    def run(self, ctx: JobContext) -> None: ...

    def give_up(self, session: Session, ref_id: str, reason: str) -> None: ...


HANDLERS: dict[str, Handler] = {}


def register_handler(kind: str, handler: Handler) -> None:
    HANDLERS[kind] = handler


def _give_up(session: Session, job: Job, reason: str) -> None:
    handler = HANDLERS.get(job.kind)
    if handler is not None:
        handler.give_up(session, job.ref_id, reason)


@dataclass
class Worker:
    db: Database
    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    name: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}")
    kinds: tuple[str, ...] | None = None
    lease: timedelta = queue.LEASE
    echo: Callable[[str], None] = print
    wake: threading.Event = field(default_factory=threading.Event)  # set when a job may be waiting
    watcher: changes.Watcher | None = field(default=None, init=False)  # LISTENs while run_forever runs

    def on_change(self, change: changes.Change) -> None:
        """A job was queued (or the listener reconnected and may have missed one): look now."""
        if change.kind in ("jobs", "all"):
            self.wake.set()

    def _claim(self) -> tuple[Job, Handler] | None:
        kinds = self.kinds or tuple(HANDLERS)
        with self.db.session() as session:
            if not queue.waiting(session, kinds=kinds, now=self.clock.now()):
                return None
        with self.db.transaction() as session:
            job = queue.claim(
                session,
                worker=self.name,
                kinds=kinds,
                now=self.clock.now(),
                give_up=_give_up,
                lease=self.lease,
            )
            if job is None:
                return None
            session.expunge(job)
        return job, HANDLERS[job.kind]

    def _heartbeat(self, ctx: JobContext, done: threading.Event) -> None:
        interval = max(self.lease.total_seconds() / 3, 0.05)
        while not done.wait(interval):
            with self.db.transaction() as session:
                if not queue.heartbeat(
                    session, job_id=ctx.job_id, worker=self.name, now=self.clock.now(), lease=self.lease
                ):
                    ctx.lost.set()
                    return

    def run_once(self) -> bool:
        """Run at most one job; True when one was run (whatever its outcome)."""
        claimed = self._claim()
        if claimed is None:
            return False
        job, handler = claimed
        ctx = JobContext(
            db=self.db,
            settings=self.settings,
            clock=self.clock,
            job_id=job.id,
            ref_id=job.ref_id,
            payload=job.payload,
            attempt=job.attempts,
            echo=self.echo,
        )
        self.echo(
            f"[WORKER] {self.name} runs {job.kind} {job.ref_id} (attempt {job.attempts}/{job.max_attempts})"
        )
        done = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(ctx, done), daemon=True)
        beat.start()
        error: str | None = None
        try:
            handler.run(ctx)
        except Exception as exc:  # the job failed; the worker carries on with the next one
            error = f"{type(exc).__name__}: {exc}"
            log.debug("job %s failed:\n%s", job.id, traceback.format_exc())
        finally:
            done.set()
            beat.join()
        self._finish(job, handler, error)
        return True

    def _finish(self, job: Job, handler: Handler, error: str | None) -> None:
        with self.db.transaction() as session:
            if not queue.still_owned(session, job_id=job.id, worker=self.name):
                self.echo(f"[WORKER] lost the lease on {job.kind} {job.ref_id}; its result is discarded")
                return
            row = session.get(Job, job.id)
            assert row is not None
            queue.finish(session, row, ok=error is None, error=error, now=self.clock.now())
            if error is not None:
                handler.give_up(session, job.ref_id, error)
        self.echo(
            f"[WORKER] {job.kind} {job.ref_id} " + ("succeeded" if error is None else f"failed: {error}")
        )

    def run_forever(self, *, poll_seconds: float = 1.0, stop: threading.Event | None = None) -> None:
        """Run jobs until ``stop``: woken when one is queued, polling every ``poll_seconds`` otherwise."""
        stop = stop or threading.Event()
        changes.subscribe(self.db, self.on_change)
        watcher = self.watcher = changes.Watcher(self.db, self.on_change)
        watcher.start()
        self.echo(f"[WORKER] {self.name} waiting for {', '.join(self.kinds or tuple(HANDLERS))} jobs")
        try:
            while not stop.is_set():
                self.wake.clear()  # before the claim: a job queued after it sets it again
                if not self.run_once():
                    self._idle(stop, poll_seconds)
        finally:
            watcher.stop()

    def _idle(self, stop: threading.Event, seconds: float) -> None:
        """Wait until woken, stopped, or ``seconds`` have passed."""
        deadline = time.monotonic() + seconds
        while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
            if self.wake.wait(min(left, STOP_CHECK_S)):
                return
