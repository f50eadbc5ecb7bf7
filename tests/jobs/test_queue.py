"""The database job queue: claims, leases, crashed workers, retries and give-ups."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from gatekeeper.clock import ManualClock
from gatekeeper.config import Settings
from gatekeeper.jobs import queue
from gatekeeper.jobs.models import Job
from gatekeeper.jobs.worker import HANDLERS, JobContext, Worker, register_handler

T0 = datetime(2026, 11, 25, 12, tzinfo=UTC)


@dataclass
class Recorder:
    """A job kind for exercising the queue itself: it records who ran what and can fail or stall."""

    runs: list[tuple[str, str, int]] = field(default_factory=list)
    given_up: list[tuple[str, str]] = field(default_factory=list)
    fail: bool = False
    stall: float = 0.0

    def run(self, ctx: JobContext) -> None:
        self.runs.append((ctx.ref_id, threading.current_thread().name, ctx.attempt))
        time.sleep(self.stall)
        if self.fail:
            raise ValueError("deterministic failure")

    def give_up(self, session, ref_id: str, reason: str) -> None:  # noqa: ANN001
        self.given_up.append((ref_id, reason))


@pytest.fixture
def recorder():  # noqa: ANN201
    rec = Recorder()
    register_handler("test-record", rec)
    yield rec
    HANDLERS.pop("test-record", None)


def enqueue(db, n: int, clock: ManualClock) -> list[str]:  # noqa: ANN001
    with db.transaction() as session:
        return [
            str(queue.enqueue(session, kind="test-record", ref_id=f"ref-{i}", now=clock.now()).ref_id)
            for i in range(n)
        ]


def statuses(db) -> dict[str, str]:  # noqa: ANN001
    with db.session() as session:
        return {j.ref_id: j.status for j in session.scalars(select(Job))}


def test_worker_runs_jobs_in_order_and_marks_them(db, settings, recorder) -> None:
    clock = ManualClock(T0)
    enqueue(db, 3, clock)
    worker = Worker(db, settings, clock=clock, kinds=("test-record",), echo=lambda _: None)
    while worker.run_once():
        clock.advance(timedelta(seconds=1))
    assert [r[0] for r in recorder.runs] == ["ref-0", "ref-1", "ref-2"]
    assert set(statuses(db).values()) == {"succeeded"}


def test_handler_error_fails_the_job_once_and_tells_the_handler(db, settings, recorder) -> None:
    recorder.fail = True
    clock = ManualClock(T0)
    enqueue(db, 1, clock)
    Worker(db, settings, clock=clock, kinds=("test-record",), echo=lambda _: None).run_once()
    assert statuses(db) == {"ref-0": "failed"}
    assert recorder.given_up == [("ref-0", "ValueError: deterministic failure")]
    assert len(recorder.runs) == 1


def test_crashed_worker_job_is_retried_then_given_up(db, settings, recorder) -> None:
    clock = ManualClock(T0)
    enqueue(db, 1, clock)
    for attempt in (1, 2):  # two workers claim and "crash" (never finish, never heartbeat)
        with db.transaction() as session:
            job = queue.claim(
                session,
                worker=f"dead-{attempt}",
                kinds=("test-record",),
                now=clock.now(),
                give_up=lambda *a: None,
            )
            assert job is not None and job.attempts == attempt
        with db.transaction() as session:  # a live lease is not claimable
            assert (
                queue.claim(
                    session, worker="other", kinds=("test-record",), now=clock.now(), give_up=lambda *a: None
                )
                is None
            )
        clock.advance(queue.LEASE + timedelta(seconds=1))
    worker = Worker(db, settings, clock=clock, kinds=("test-record",), echo=lambda _: None)
    assert worker.run_once() is False  # the third claim finds it exhausted and gives up
    assert statuses(db) == {"ref-0": "failed"}
    assert recorder.given_up and "gave up after 2 attempt(s)" in recorder.given_up[0][1]
    assert recorder.runs == []


def test_heartbeat_keeps_a_slow_job_from_being_stolen(db, settings, recorder) -> None:
    recorder.stall = 0.6
    enqueue(db, 1, ManualClock(T0))
    lease = timedelta(seconds=0.3)
    worker = Worker(db, settings, kinds=("test-record",), lease=lease, echo=lambda _: None)
    runner = threading.Thread(target=worker.run_once)
    runner.start()
    time.sleep(0.35)  # longer than the lease: only the heartbeat keeps it alive
    with db.transaction() as session:
        stolen = queue.claim(
            session,
            worker="thief",
            kinds=("test-record",),
            now=datetime.now(UTC),
            give_up=lambda *a: None,
            lease=lease,
        )
    runner.join()
    assert stolen is None
    assert statuses(db) == {"ref-0": "succeeded"} and len(recorder.runs) == 1


@pytest.mark.postgres
def test_concurrent_workers_on_postgres_never_share_a_job(pg_db, recorder) -> None:
    settings = Settings(database_url=str(pg_db.engine.url))
    clock = ManualClock(T0)
    enqueue(pg_db, 12, clock)
    barrier = threading.Barrier(4)

    def work(i: int) -> None:
        worker = Worker(
            pg_db, settings, clock=clock, name=f"w{i}", kinds=("test-record",), echo=lambda _: None
        )
        barrier.wait()
        while worker.run_once():
            pass

    recorder.stall = 0.02
    threads = [threading.Thread(target=work, args=(i,), name=f"w{i}") for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    refs = sorted(r[0] for r in recorder.runs)
    assert refs == sorted(f"ref-{i}" for i in range(12))  # each exactly once
    assert len({r[1] for r in recorder.runs}) > 1  # work was actually shared
    assert set(statuses(pg_db).values()) == {"succeeded"}
