"""Alembic owns the schema: it upgrades an empty database on both engines, and the models and the
migrations describe the same schema (autogenerate finds nothing to do)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from gatekeeper.db import make_engine
from gatekeeper.migrate import current_revision, downgrade, head_revision, upgrade
from gatekeeper.models import metadata
from tests.conftest import _pg_reachable, scratch_pg_database

EXPECTED_TABLES = {
    "targets",
    "policy_versions",
    "training_runs",
    "candidates",
    "decisions",
    "evaluations",
    "audit_events",
    "api_tokens",
    "jobs",
    "prediction_sets",
    "online_metrics",
    "shadow_records",
    "shadows",
    "canaries",
    "metric_windows",
    "daemon_leases",
    "outbox",
    "idempotency_keys",
    "drift_prediction_logs",
    "drift_labels",
    "drift_references",
    "drift_results",
    "drift_events",
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request, tmp_path: Path) -> Iterator[str]:  # noqa: ANN001
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    if not _pg_reachable():
        request.getfixturevalue("pg_url")  # skips or fails (CI) with the standard message
    with scratch_pg_database("gk_mig") as url:
        yield url


def test_upgrade_from_empty_reaches_head(empty_url: str) -> None:
    upgrade(empty_url)
    engine = make_engine(empty_url)
    try:
        assert current_revision(engine) == head_revision()
        assert EXPECTED_TABLES <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_models_and_migrations_agree(empty_url: str) -> None:
    upgrade(empty_url)
    engine = make_engine(empty_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()


def test_downgrade_to_base_and_up_again(empty_url: str) -> None:
    upgrade(empty_url)
    downgrade(empty_url, "base")
    engine = make_engine(empty_url)
    try:
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()
    upgrade(empty_url)
