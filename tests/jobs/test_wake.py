"""An idle worker wakes when a job is queued: by NOTIFY from another process on Postgres, in-process on
either engine. Each worker here polls only every 60 s, so a job run within the (generous) deadline was
run because the worker was woken, not because it polled."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest

from gatekeeper import changes
from gatekeeper.config import Settings
from gatekeeper.db import Database
from gatekeeper.jobs import queue
from gatekeeper.jobs.worker import Worker
from tests.jobs.test_queue import recorder, statuses  # noqa: F401 - the fixture

POLL_S = 60.0  # far longer than any deadline below
DEADLINE_S = 20.0


@contextmanager
def running(worker: Worker) -> Iterator[threading.Thread]:
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_forever, kwargs={"poll_seconds": POLL_S, "stop": stop})
    thread.start()
    try:
        yield thread
    finally:
        stop.set()
        thread.join(timeout=DEADLINE_S)


def wait_for(condition, deadline: float = DEADLINE_S) -> bool:  # noqa: ANN001
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.02)
    return False


def enqueue(db: Database, ref: str) -> None:
    with db.transaction() as session:
        queue.enqueue(session, kind="test-record", ref_id=ref, now=datetime.now(UTC))


def idle(worker: Worker) -> bool:
    """Its first empty claim is done and any wake-up from start-up is used up."""
    return not worker.wake.is_set() and statuses(worker.db) == {}


def test_worker_wakes_on_notify_from_another_process(pg_db, tmp_path, recorder) -> None:  # noqa: F811
    settings = Settings(database_url=pg_db.engine.url.render_as_string(hide_password=False))
    worker = Worker(pg_db, settings, kinds=("test-record",), echo=lambda _: None)
    # Another process's connection: the same database under another URL, so this process's in-process
    # publish reaches no subscriber of the worker's database and only Postgres' NOTIFY can wake it.
    other = Database.from_url(
        pg_db.engine.url.update_query_dict({"application_name": "gk-other"}).render_as_string(
            hide_password=False
        )
    )
    assert changes.database_key(other) != changes.database_key(pg_db)
    try:
        with running(worker):
            assert wait_for(lambda: worker.watcher is not None and worker.watcher.listening.is_set())
            assert wait_for(lambda: idle(worker))
            time.sleep(0.3)  # let the reconnect's "all" wake-up be spent on an empty claim
            enqueue(other, "by-notify")
            assert wait_for(lambda: statuses(pg_db) == {"by-notify": "succeeded"}), statuses(pg_db)
    finally:
        other.dispose()
    assert [run[0] for run in recorder.runs] == ["by-notify"]


def test_worker_wakes_in_process_on_either_engine(db, settings, recorder) -> None:  # noqa: F811
    worker = Worker(db, settings, kinds=("test-record",), echo=lambda _: None)
    with running(worker):
        assert wait_for(lambda: idle(worker))
        enqueue(db, "in-process")
        assert wait_for(lambda: statuses(db) == {"in-process": "succeeded"}), statuses(db)
        enqueue(db, "again")  # and again, once idle once more
        assert wait_for(lambda: statuses(db).get("again") == "succeeded"), statuses(db)


def test_only_a_committed_job_wakes_a_worker(db, settings, recorder) -> None:  # noqa: F811
    worker = Worker(db, settings, kinds=("test-record",), echo=lambda _: None)
    changes.subscribe(db, worker.on_change)
    with db.session(write=True) as session:
        queue.enqueue(session, kind="test-record", ref_id="never", now=datetime.now(UTC))
        session.rollback()
    assert not worker.wake.is_set()
    worker.on_change(changes.Change("routing", "intent_classifier", 3))
    assert not worker.wake.is_set()
    enqueue(db, "committed")
    assert worker.wake.is_set()


def test_a_stopped_worker_returns_without_waiting_out_its_poll(db, settings, recorder) -> None:  # noqa: F811
    worker = Worker(db, settings, kinds=("test-record",), echo=lambda _: None)
    with running(worker) as thread:
        assert wait_for(lambda: idle(worker))
    assert not thread.is_alive()


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_an_idle_poll_does_not_wait_for_the_write_lock(db, settings, recorder) -> None:  # noqa: F811
    """An idle worker's poll is a read: on SQLite it neither takes nor waits for the write lock that a
    request holds while it works (the lock's busy wait would delay both)."""
    worker = Worker(db, settings, kinds=("test-record",), echo=lambda _: None)
    done = threading.Event()
    with db.transaction() as session:  # holds SQLite's write lock until the block ends
        enqueue_in(session, "held")
        polled = threading.Thread(target=lambda: (worker.run_once(), done.set()))
        polled.start()
        assert done.wait(DEADLINE_S)  # it answered while the lock was held: nothing committed yet
    polled.join()
    assert recorder.runs == []
    assert worker.run_once() and [run[0] for run in recorder.runs] == ["held"]


def enqueue_in(session, ref: str) -> None:  # noqa: ANN001
    queue.enqueue(session, kind="test-record", ref_id=ref, now=datetime.now(UTC))
