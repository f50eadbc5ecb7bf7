"""Job queue, the predict-once prediction cache and online metrics for correlation.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def TS() -> sa.DateTime:  # noqa: N802 - reads like a type in the table definitions
    return sa.DateTime(timezone=True)


def JSON() -> sa.types.TypeEngine:  # noqa: N802
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("ref_id", sa.String(length=64), nullable=False),
        sa.Column("payload", JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(length=200), nullable=True),
        sa.Column("lease_expires_at", TS(), nullable=True),
        sa.Column("run_after", TS(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", TS(), nullable=False),
        sa.Column("started_at", TS(), nullable=True),
        sa.Column("finished_at", TS(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index("ix_jobs_claim", ["status", "run_after"], unique=False)
        batch_op.create_index(batch_op.f("ix_jobs_ref_id"), ["ref_id"], unique=False)

    op.create_table(
        "prediction_sets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_sha256", sa.String(length=64), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("file_name", sa.String(length=200), nullable=False),
        sa.Column("payload", JSON(), nullable=False),
        sa.Column("created_at", TS(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prediction_sets")),
        sa.UniqueConstraint("source_sha256", "file_sha256", name="uq_prediction_sets_source_file"),
    )
    op.create_table(
        "online_metrics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("candidate_id", sa.Uuid(), nullable=False),
        sa.Column("metric", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("window_days", sa.Integer(), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.Column("recorded_at", TS(), nullable=False),
        sa.ForeignKeyConstraint(
            ["candidate_id"], ["candidates.id"], name=op.f("fk_online_metrics_candidate_id_candidates")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_online_metrics")),
        sa.UniqueConstraint("candidate_id", "metric", name="uq_online_metrics_candidate_metric"),
    )
    with op.batch_alter_table("online_metrics", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_online_metrics_candidate_id"), ["candidate_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("online_metrics", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_online_metrics_candidate_id"))

    op.drop_table("online_metrics")
    op.drop_table("prediction_sets")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_jobs_ref_id"))
        batch_op.drop_index("ix_jobs_claim")

    op.drop_table("jobs")
