"""The audit log's hash chain on both engines: rows are sealed at commit, tampering with a past row
(raw SQL, the append-only trigger switched off) is caught by `gatekeeper audit verify` and the API,
and concurrent writers on Postgres keep one valid chain."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select, text
from typer.testing import CliRunner

from gatekeeper.cli import app as cli
from gatekeeper.config import get_settings
from gatekeeper.db import Database
from gatekeeper.migrate import upgrade
from gatekeeper.registry import audit
from gatekeeper.registry.models import AuditEvent
from tests.conftest import scratch_pg_database


def tamper(db: Database, sql: str) -> None:
    """Run ``sql`` on audit_events with its append-only guard off, as an attacker with DB access could."""
    with db.engine.begin() as conn:
        if db.dialect == "postgresql":
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"))
            conn.execute(text(sql))
            conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only"))
        else:  # the SQLite file is this test's own copy
            conn.execute(text("DROP TRIGGER audit_events_no_update"))
            conn.execute(text("DROP TRIGGER audit_events_no_delete"))
            conn.execute(text(sql))


def verify_cli(settings, monkeypatch):  # noqa: ANN001, ANN201
    monkeypatch.setenv("GATEKEEPER_DATABASE_URL", settings.database_url)
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(cli, ["audit", "verify"])
    finally:
        get_settings.cache_clear()


def audit_ids(db: Database) -> list[int]:
    with db.session() as session:
        return list(session.scalars(select(AuditEvent.id).order_by(AuditEvent.id)))


def test_the_chain_verifies_and_an_edited_past_row_is_named(
    api, auth, db, register, settings, monkeypatch
) -> None:  # noqa: ANN001
    register(), register()
    ids = audit_ids(db)
    assert len(ids) >= 3  # target created, two candidates registered
    result = verify_cli(settings, monkeypatch)
    assert result.exit_code == 0 and f"{len(ids)} rows verified" in result.output
    reply = api.get("/v1/audit/verify", headers=auth("reviewer")).json()
    assert reply["ok"] and reply["rows"] == len(ids)

    tamper(db, f"UPDATE audit_events SET actor = 'mallory' WHERE id = {ids[1]}")
    result = verify_cli(settings, monkeypatch)
    assert result.exit_code == 1 and f"broken at row {ids[1]}" in result.output, result.output
    reply = api.get("/v1/audit/verify", headers=auth("admin")).json()
    assert (reply["ok"], reply["broken_id"]) == (False, ids[1])


@pytest.mark.parametrize("which", ["middle", "last"])
def test_a_deleted_row_is_detected(db, register, settings, monkeypatch, which) -> None:  # noqa: ANN001
    register(), register()
    ids = audit_ids(db)
    victim = ids[1] if which == "middle" else ids[-1]
    tamper(db, f"DELETE FROM audit_events WHERE id = {victim}")
    result = verify_cli(settings, monkeypatch)
    named = ids[2] if which == "middle" else ids[-2]
    assert result.exit_code == 1 and f"broken at row {named}" in result.output, result.output


def test_rows_of_a_rolled_back_savepoint_or_transaction_are_not_chained(db) -> None:
    with db.transaction() as session:
        audit.record(session, actor="t", action="kept.before", entity_type="x", entity_id=1)
        with pytest.raises(RuntimeError), session.begin_nested():
            audit.record(session, actor="t", action="dropped", entity_type="x", entity_id=2)
            raise RuntimeError
        with session.begin_nested():
            audit.record(session, actor="t", action="kept.released", entity_type="x", entity_id=3)
    with pytest.raises(RuntimeError), db.transaction() as session:
        audit.record(session, actor="t", action="dropped", entity_type="x", entity_id=4)
        raise RuntimeError
    with db.session() as session:
        assert list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id))) == [
            "kept.before",
            "kept.released",
        ]
        assert audit.verify(session).rows == 2


@pytest.mark.postgres
def test_concurrent_writers_keep_one_valid_chain(pg_db: Database) -> None:
    """8 threads x 6 transactions of two rows each, appended at once: one chain, nothing lost."""

    def write(worker: int) -> None:
        for i in range(6):
            with pg_db.transaction() as session:
                for part in ("a", "b"):
                    audit.record(session, actor=f"w{worker}", action=part, entity_type="x", entity_id=i)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, range(8)))
    with pg_db.session() as session:
        verdict = audit.verify(session)
    assert verdict.ok and verdict.rows == 96, verdict.describe()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def scratch_url(request, tmp_path) -> Iterator[str]:  # noqa: ANN001
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    request.getfixturevalue("pg_url")  # skips (or fails in CI) when Postgres is not there
    with scratch_pg_database("gk_chain") as url:
        yield url


def test_migration_0007_chains_the_rows_already_there(scratch_url: str) -> None:
    upgrade(scratch_url, "0006")
    old = Database.from_url(scratch_url)
    try:
        with old.engine.begin() as conn:
            for i in range(3):
                conn.execute(
                    text(
                        "INSERT INTO audit_events (at, actor, action, entity_type, entity_id, after) "
                        "VALUES (:at, 'ci', 'candidate.register', 'candidate', :e, :after)"
                    ),
                    {"at": f"2026-11-0{i + 1} 10:00:00.123456+00:00", "e": str(i), "after": '{"v": 1.0}'},
                )
    finally:
        old.dispose()
    upgrade(scratch_url)
    db = Database.from_url(scratch_url)
    try:
        with db.transaction() as session:
            audit.record(session, actor="t", action="after.upgrade", entity_type="x", entity_id=1)
        with db.session() as session:
            verdict = audit.verify(session)
        assert verdict.ok and verdict.rows == 4, verdict.describe()
    finally:
        db.dispose()
