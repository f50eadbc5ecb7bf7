"""Committed changes reach the caches: in this process after commit (both engines), across processes by
Postgres NOTIFY; a rolled-back change reaches nobody."""

from __future__ import annotations

import asyncio
import queue
import threading
import time

import pytest

from gatekeeper import changes
from gatekeeper.changes import Change
from gatekeeper.db import Database
from gatekeeper.registry import service as registry
from gatekeeper.registry.schemas import TargetCreate
from tests.conftest import POLICY_FILE


def policy(name: str) -> str:
    return POLICY_FILE.read_text().replace("target: intent_classifier", f"target: {name}")


def make_targets(db: Database, *names: str) -> dict[str, int]:
    with db.transaction() as session:
        made = [
            registry.create_target(
                session, spec=TargetCreate(name=n, task="classification", policy=policy(n)), actor="t"
            )
            for n in names
        ]
        return {t.name: t.id for t in made}


def bump(db: Database, target_id: int, *, commit: bool) -> None:
    with db.session(write=True) as session:
        registry.bump_routing(session, target_id)
        session.commit() if commit else session.rollback()


class Recorder:
    def __init__(self) -> None:
        self.seen: list[Change] = []

    def on_change(self, change: Change) -> None:
        self.seen.append(change)


def test_a_change_is_published_in_process_after_commit_only(db: Database) -> None:
    ids = make_targets(db, "alpha")
    recorder = Recorder()
    changes.subscribe(db, recorder.on_change)
    bump(db, ids["alpha"], commit=False)
    assert recorder.seen == []
    bump(db, ids["alpha"], commit=True)
    assert recorder.seen == [Change("routing", "alpha", 1)]


def test_a_payload_that_is_not_ours_means_anything_changed() -> None:
    assert Change.decode("hello") == Change("all")
    assert Change.decode(Change("routing", "a", 3).encode()) == Change("routing", "a", 3)


@pytest.mark.postgres
def test_notify_reaches_a_listener_for_committed_changes_only(pg_db: Database) -> None:
    ids = make_targets(pg_db, "alpha", "beta")
    got: queue.Queue[Change] = queue.Queue()
    watcher = changes.Watcher(pg_db, got.put)
    watcher.start()
    try:
        assert watcher.listening.wait(10)
        assert got.get(timeout=10) == Change("all")  # whatever changed before it listened
        bump(pg_db, ids["alpha"], commit=False)
        bump(pg_db, ids["beta"], commit=True)
        bump(pg_db, ids["alpha"], commit=True)
        # in commit order, and the rolled-back bump of alpha never sent: its first is generation 1
        assert got.get(timeout=10) == Change("routing", "beta", 1)
        assert got.get(timeout=10) == Change("routing", "alpha", 1)
    finally:
        watcher.stop()


def test_a_savepoint_rolled_back_inside_keeps_the_transactions_changes(db: Database) -> None:
    """A promotion bumps routing, then a savepoint inside it fails (a drift reference that cannot be
    built): the commit must still publish the bump, or the routing cache serves the old table."""
    ids = make_targets(db, "alpha", "beta")
    recorder = Recorder()
    changes.subscribe(db, recorder.on_change)
    with db.transaction() as session:
        registry.bump_routing(session, ids["alpha"])
        savepoint = session.begin_nested()
        registry.bump_routing(session, ids["beta"])
        savepoint.rollback()
    assert [c.target for c in recorder.seen if c.kind == "routing"][:1] == ["alpha"]
    recorder.seen.clear()
    with db.session(write=True) as session:
        registry.bump_routing(session, ids["alpha"])
        session.rollback()
    assert recorder.seen == []  # a root rollback still publishes nothing


def test_waits_wake_a_sleeper_from_another_thread_and_never_miss_an_earlier_change() -> None:
    waits = changes.Waits()

    async def scenario() -> tuple[float, float]:
        epoch = waits.epoch("t")
        waits.bump(["t"])  # a change between the caller's read and its sleep
        started = time.monotonic()
        await waits.sleep("t", epoch, timeout=5)
        missed = time.monotonic() - started
        epoch = waits.epoch("t")
        threading.Timer(0.05, waits.bump, args=(["t"],)).start()
        started = time.monotonic()
        await waits.sleep("t", epoch, timeout=5)
        return missed, time.monotonic() - started

    missed, woken = asyncio.run(scenario())
    assert missed < 1 and woken < 1  # both well before the 5 s timeout
    assert waits.waited_on() == [] and waits.epoch("t") == 2
    waits.forget("t")
    assert waits.epoch("t") == 0
