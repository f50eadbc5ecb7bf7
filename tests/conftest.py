"""Shared fixtures: a fresh database per engine (real Postgres and SQLite), the app, tokens per role
and small factories. Postgres gets one database per test session, dropped at the end."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text

from gatekeeper.api.app import create_app
from gatekeeper.api.server import BackgroundServer
from gatekeeper.config import Settings
from gatekeeper.db import Database
from gatekeeper.migrate import upgrade
from gatekeeper.registry.artifacts import artifact_sha256
from gatekeeper.registry.auth import Role, create_token

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")

ROOT = Path(__file__).resolve().parent.parent
PG_SERVER = os.environ.get("GATEKEEPER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
POLICY_FILE = ROOT / "policies" / "intent_classifier.yaml"
TAGS = {
    "model_target": "intent_classifier",
    "code_revision": "3f2c1ab",
    "data_snapshot_id": "snap-2026-11-20",
    "label_version": "47",
    "feature_schema_version": "v3",
    "seed": "42",
}


def _pg_reachable() -> bool:
    try:
        with psycopg.connect(PG_SERVER, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A brand-new Postgres database for this test session (per xdist worker), migrated, then dropped."""
    if not _pg_reachable():
        message = f"PostgreSQL is not reachable at {PG_SERVER}"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{message}; CI requires it (start it, see README)")
        pytest.skip(message)
    name = f"gk_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_SERVER, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_SERVER.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    url = f"{base}/{name}"
    upgrade(url)
    yield url
    with psycopg.connect(PG_SERVER, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def scratch_pg_database(prefix: str) -> Iterator[str]:
    """A brand-new, empty Postgres database (not migrated), dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_SERVER, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_SERVER.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}"
    finally:
        with psycopg.connect(PG_SERVER, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


def _truncate_postgres(db: Database) -> None:
    with db.engine.begin() as conn:
        tables = [t for t in inspect(conn).get_table_names() if t != "alembic_version"]
        if tables:
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """An empty, migrated database: every test runs on both engines."""
    if request.param == "sqlite":
        path = tmp_path / "gatekeeper.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        database = Database.from_url(f"sqlite:///{path}")
    else:
        database = Database.from_url(request.getfixturevalue("pg_url"), pool_size=5, max_overflow=60)
        _truncate_postgres(database)
    yield database
    database.dispose()


@pytest.fixture
def pg_db(pg_url: str) -> Iterator[Database]:
    """Postgres only (concurrency, advisory locks, SKIP LOCKED)."""
    database = Database.from_url(pg_url, pool_size=5, max_overflow=60)
    _truncate_postgres(database)
    yield database
    database.dispose()


@pytest.fixture
def settings(db: Database, tmp_path: Path) -> Settings:
    root = tmp_path / "artifacts"
    root.mkdir()
    return Settings(
        database_url=str(db.engine.url.render_as_string(hide_password=False)),
        artifact_root=root,
        report_dir=tmp_path / "reports",
        evalset_root=ROOT,
    )


@pytest.fixture
def app(settings: Settings, db: Database):  # noqa: ANN201
    return create_app(settings, db)


@pytest.fixture
def api(app) -> Iterator[TestClient]:  # noqa: ANN001
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def tokens(db: Database) -> dict[str, str]:
    """One secret per role, named after the role."""
    secrets: dict[str, str] = {}
    with db.transaction() as session:
        for role in Role:
            _, secrets[role.value] = create_token(session, name=role.value, role=role.value, actor="test")
    return secrets


@pytest.fixture
def auth(tokens: dict[str, str]) -> Callable[[str], dict[str, str]]:
    return lambda role: {"Authorization": f"Bearer {tokens[role]}"}


@pytest.fixture
def target(api: TestClient, auth) -> dict[str, Any]:  # noqa: ANN001
    body = {"name": "intent_classifier", "task": "classification", "policy": POLICY_FILE.read_text()}
    response = api.post("/v1/targets", json=body, headers=auth("admin"))
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def make_artifact(settings: Settings) -> Callable[..., tuple[str, str]]:
    """Write a small safetensors-style artifact folder under the root; return (relative uri, sha256)."""

    def _make(name: str | None = None, content: bytes | None = None) -> tuple[str, str]:
        name = name or f"model-{uuid.uuid4().hex[:8]}"
        folder = settings.artifact_root / name
        folder.mkdir(parents=True)
        (folder / "model.safetensors").write_bytes(content or uuid.uuid4().bytes * 8)
        (folder / "config.json").write_text('{"model_type": "bert"}')
        return name, artifact_sha256(folder)

    return _make


@pytest.fixture
def register(api: TestClient, auth, make_artifact, target):  # noqa: ANN001, ANN201
    """Register a fresh candidate through the API and return its JSON."""

    def _register(**overrides: Any) -> dict[str, Any]:
        uri, sha = make_artifact()
        body = {
            "target": "intent_classifier",
            "artifact_uri": uri,
            "artifact_sha256": sha,
            "tags": dict(TAGS),
        }
        body.update(overrides)
        response = api.post("/v1/candidates", json=body, headers=auth("ci"))
        assert response.status_code == 201, response.text
        return response.json()

    return _register


def snapshot(db: Database) -> dict[str, list[tuple]]:
    """Every row of every table, to prove a refused request changed nothing."""
    with db.engine.connect() as conn:
        tables = sorted(t for t in inspect(conn).get_table_names() if t != "alembic_version")
        return {
            t: sorted(tuple(map(str, row)) for row in conn.execute(text(f"SELECT * FROM {t}")))
            for t in tables
        }


@pytest.fixture
def live_server(app) -> Iterator[BackgroundServer]:  # noqa: ANN001
    with BackgroundServer(app) as server:
        with httpx.Client(base_url=server.url) as http:
            assert http.get("/healthz").status_code == 200
        yield server


def pytest_configure(config: pytest.Config) -> None:
    """Under xdist each worker gets one torch thread: two workers x two threads on two cores thrash."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        torch.set_num_threads(1)


# Folders whose tests share one costly session fixture go to one worker: tests/ray/ one local Ray
# cluster, tests/dashboards/ the seeded deployment (about 3 minutes to seed: split over two workers,
# one seeds while the other waits on its lock).
WORKER_GROUPS = {"tests/ray/": "ray", "tests/dashboards/": "dashboards"}


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadgroup`` (make test): each of ``WORKER_GROUPS`` runs on one worker; every other test
    is scheduled on its own, as with ``--dist load``. The group comes from the path: xdist 3.8 groups by
    a suffix it writes into the node id, which pytest 9 ignores (an ``xdist_group`` mark does nothing)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class ByFolder(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            for folder, group in WORKER_GROUPS.items():
                if nodeid.startswith(folder):
                    return group
            return super()._split_scope(nodeid)

    return ByFolder(config, log)


LiveServer = BackgroundServer  # the name the dashboard tests import
