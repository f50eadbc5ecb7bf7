"""Daemon leadership on SQLite: an exclusive lock file next to the database (one process)."""

from __future__ import annotations

import pytest

from gatekeeper.canary.daemon import Leadership
from gatekeeper.db import Database


@pytest.fixture
def sqlite_db(tmp_path, sqlite_template):  # noqa: ANN001, ANN201
    import shutil

    shutil.copy(sqlite_template, tmp_path / "g.db")
    database = Database.from_url(f"sqlite:///{tmp_path / 'g.db'}")
    yield database
    database.dispose()


def test_only_one_holder_until_it_lets_go(sqlite_db) -> None:
    first, second = Leadership(sqlite_db), Leadership(sqlite_db)
    assert first.acquire() and first.held()
    assert not second.acquire() and not second.held()
    first.release()
    assert second.acquire()
    second.release()
