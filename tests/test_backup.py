"""`gatekeeper db backup` / `restore` on both engines: a fresh database restored from a backup answers
with the same champion, routing and audit log, and its audit chain verifies. A restore over data is
refused unless forced, and a wrong file is one readable line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gatekeeper.api.app import create_app
from gatekeeper.cli import app as cli
from gatekeeper.config import get_settings
from gatekeeper.db import Database
from tests.conftest import scratch_pg_database
from tests.promotion.conftest import champion  # noqa: F401 - fixture

READS = [
    "/v1/targets/intent_classifier/champion",
    "/v1/targets/intent_classifier/routing",
    "/v1/candidates?limit=100",
    "/v1/audit?limit=1000",
    "/v1/audit/verify",
]


@pytest.fixture
def fresh_url(db: Database, tmp_path: Path) -> Iterator[str]:
    """A brand-new, empty database on the same engine as ``db``."""
    if db.dialect == "sqlite":
        yield f"sqlite:///{tmp_path / 'restored.db'}"
        return
    with scratch_pg_database("gk_restore") as url:
        yield url


def gk(url: str, *args: str, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    monkeypatch.setenv("GATEKEEPER_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(cli, list(args))
    finally:
        get_settings.cache_clear()


def reads(app, headers: dict[str, str]) -> dict[str, object]:  # noqa: ANN001
    with TestClient(app) as client:
        return {path: client.get(path, headers=headers).json() for path in READS}


def test_a_restored_database_has_the_same_champion_routing_and_audit_chain(
    app,
    auth,
    db,
    settings,
    register,
    champion,  # noqa: F811 - the fixture imported above
    fresh_url,
    tmp_path,
    monkeypatch,
) -> None:
    register()
    before = reads(app, auth("reviewer"))
    assert before["/v1/audit/verify"]["ok"]
    file = tmp_path / "gatekeeper.backup"
    made = gk(settings.database_url, "db", "backup", str(file), monkeypatch=monkeypatch)
    assert made.exit_code == 0, made.output

    restored = gk(fresh_url, "db", "restore", str(file), monkeypatch=monkeypatch)
    assert restored.exit_code == 0 and "audit chain intact" in restored.output, restored.output
    fresh = Database.from_url(fresh_url)
    try:
        after = reads(
            create_app(settings.model_copy(update={"database_url": fresh_url}), fresh), auth("reviewer")
        )
    finally:
        fresh.dispose()
    assert after == before

    again = gk(fresh_url, "db", "restore", str(file), monkeypatch=monkeypatch)
    assert again.exit_code == 1 and "--force" in again.output and len(again.output.splitlines()) == 1
    assert gk(fresh_url, "db", "restore", "--force", str(file), monkeypatch=monkeypatch).exit_code == 0
    assert gk(settings.database_url, "db", "backup", str(file), monkeypatch=monkeypatch).exit_code == 1


def test_a_file_that_is_no_backup_is_one_line(db, settings, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    junk = tmp_path / "notes.txt"
    junk.write_text("not a backup\n")
    for file in (junk, tmp_path / "missing.backup"):
        refused = gk(settings.database_url, "db", "restore", str(file), monkeypatch=monkeypatch)
        assert refused.exit_code == 1 and len(refused.output.splitlines()) == 1, refused.output
        assert str(file) in refused.output
