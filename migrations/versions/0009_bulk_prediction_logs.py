"""Bulk prediction logs: the log table loses its two foreign keys (each cost a trigger call per row of
a bulk COPY; both ids are checked when a batch is taken, and targets and candidates are never deleted),
request ids of logs and labels compare byte by byte on Postgres (``COLLATE "C"``: the key's comparisons
skip the locale), and the labels still waiting for their log get a partial index, so a batch back-fills
only those.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

WAITING = "prediction IS NULL"
_FOREIGN_KEYS = {
    "fk_drift_prediction_logs_candidate_id_candidates": ("candidates", "candidate_id"),
    "fk_drift_prediction_logs_target_id_targets": ("targets", "target_id"),
}


def _request_ids(collation: str | None) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite compares bytes already
    for table in ("drift_prediction_logs", "drift_labels"):
        op.alter_column(
            table,
            "request_id",
            type_=sa.String(length=200, collation=collation),
            existing_type=sa.String(length=200),
            existing_nullable=False,
        )


def upgrade() -> None:
    with op.batch_alter_table("drift_prediction_logs") as batch:
        for name in _FOREIGN_KEYS:
            batch.drop_constraint(name, type_="foreignkey")
    _request_ids("C")
    with op.batch_alter_table("drift_labels") as batch:
        batch.create_index(
            "ix_drift_labels_waiting",
            ["target_id"],
            postgresql_where=sa.text(WAITING),
            sqlite_where=sa.text(WAITING),
        )


def downgrade() -> None:
    _request_ids("default")
    with op.batch_alter_table("drift_labels") as batch:
        batch.drop_index(
            "ix_drift_labels_waiting", postgresql_where=sa.text(WAITING), sqlite_where=sa.text(WAITING)
        )
    with op.batch_alter_table("drift_prediction_logs") as batch:
        for name, (table, column) in _FOREIGN_KEYS.items():
            batch.create_foreign_key(name, table, [column], ["id"])
