"""``gatekeeper db backup`` / ``restore``: a whole-database copy that keeps the audit chain verifiable.

Postgres goes through ``pg_dump`` / ``pg_restore`` (custom format, one transaction on restore), SQLite
through its online backup API. A restore never lands on a database that already holds data unless
forced: restoring over live state is how a registry loses its champion.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

from sqlalchemy import func, inspect, select, table
from sqlalchemy.engine import make_url

from gatekeeper.db import Database
from gatekeeper.errors import Conflict, GatekeeperError, ValidationFailed

_SQLITE_MAGIC = b"SQLite format 3\x00"
_PG_MAGIC = b"PGDMP"
# Tables that a freshly migrated, never used database already fills.
_BOOKKEEPING = frozenset({"alembic_version", "audit_chain_head"})


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URL for the pg tools, with the password in the environment, never on the command line."""
    parsed = make_url(url)
    env = {**os.environ, **({"PGPASSWORD": parsed.password} if parsed.password else {})}
    return parsed.set(drivername="postgresql", password=None).render_as_string(), env


def _run(tool: str, *args: str, url: str) -> None:
    if shutil.which(tool) is None:
        raise GatekeeperError(f"{tool} is not on PATH; install the PostgreSQL client tools")
    dsn, env = _libpq(url)
    done = subprocess.run([tool, *args, f"--dbname={dsn}"], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()] or ["no message"]
        raise GatekeeperError(f"{tool} failed: {lines[0]}")


def _sqlite_path(url: str) -> Path:
    return Path(make_url(url).database or "")


def _sqlite_copy(source: Path, target: Path) -> None:
    """SQLite's online backup: a consistent copy even while the API writes."""
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def backup(url: str, file: Path, *, force: bool = False) -> int:
    """Write the database at ``url`` to ``file``; return its size in bytes."""
    if file.exists() and not force:
        raise Conflict(f"{file} exists; pass --force to overwrite it", field="file")
    file.parent.mkdir(parents=True, exist_ok=True)
    if url.startswith("sqlite"):
        _sqlite_copy(_sqlite_path(url), file)
    else:
        _run("pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--file={file}", url=url)
    return file.stat().st_size


def rows_held(db: Database) -> int:
    """Rows in the tables that hold state (a migrated, unused database has none)."""
    with db.engine.connect() as conn:
        names = [t for t in inspect(conn).get_table_names() if t not in _BOOKKEEPING]
        return sum(conn.scalar(select(func.count()).select_from(table(t))) or 0 for t in names)


def _check_file(url: str, file: Path) -> None:
    if not file.is_file():
        raise ValidationFailed(f"no backup file at {file}", field="file")
    with file.open("rb") as f:
        magic = f.read(len(_SQLITE_MAGIC))
    expected, kind = (_SQLITE_MAGIC, "SQLite") if url.startswith("sqlite") else (_PG_MAGIC, "pg_dump")
    if not magic.startswith(expected):
        raise ValidationFailed(f"{file} is not a {kind} backup (the database URL says which)", field="file")


def restore(url: str, file: Path, *, force: bool = False) -> None:
    """Replace the database at ``url`` with the backup in ``file``; refuse a database holding data."""
    _check_file(url, file)
    db = Database.from_url(url)
    try:
        held = rows_held(db)
    finally:
        db.dispose()
    if held and not force:
        raise Conflict(f"the database holds {held} rows; pass --force to replace them", field="url")
    if url.startswith("sqlite"):
        _sqlite_copy(file, _sqlite_path(url))
        return
    options = ("--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction")
    _run("pg_restore", *options, "--exit-on-error", str(file), url=url)
