"""Drift hub: prediction logs and late labels, champion references, per-window results and events.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

LIVE = "status IN ('open', 'acknowledged')"


def TS() -> sa.DateTime:  # noqa: N802 - reads like a type in the table definitions
    return sa.DateTime(timezone=True)


def JSON() -> sa.types.TypeEngine:  # noqa: N802
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "drift_prediction_logs",
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(length=200), nullable=False),
        sa.Column("ts", TS(), nullable=False),
        sa.Column("candidate_id", sa.Uuid(), nullable=False),
        sa.Column("prediction", sa.String(length=100), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("lang", sa.String(length=50), nullable=True),
        sa.Column("cohort", sa.String(length=50), nullable=True),
        sa.Column("device", sa.String(length=50), nullable=True),
        sa.Column("catalog_tier", sa.String(length=50), nullable=True),
        sa.Column("time_bucket", sa.String(length=50), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("features", JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["candidate_id"], ["candidates.id"], name=op.f("fk_drift_prediction_logs_candidate_id_candidates")
        ),
        sa.ForeignKeyConstraint(
            ["target_id"], ["targets.id"], name=op.f("fk_drift_prediction_logs_target_id_targets")
        ),
        sa.PrimaryKeyConstraint("target_id", "request_id", name=op.f("pk_drift_prediction_logs")),
    )
    with op.batch_alter_table("drift_prediction_logs", schema=None) as batch_op:
        batch_op.create_index("ix_drift_prediction_logs_target_ts", ["target_id", "ts"], unique=False)

    op.create_table(
        "drift_labels",
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(length=200), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("labelled_at", TS(), nullable=False),
        sa.Column("prediction", sa.String(length=100), nullable=True),
        sa.Column("candidate_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["candidate_id"], ["candidates.id"], name=op.f("fk_drift_labels_candidate_id_candidates")
        ),
        sa.ForeignKeyConstraint(
            ["target_id"], ["targets.id"], name=op.f("fk_drift_labels_target_id_targets")
        ),
        sa.PrimaryKeyConstraint("target_id", "request_id", name=op.f("pk_drift_labels")),
    )
    with op.batch_alter_table("drift_labels", schema=None) as batch_op:
        batch_op.create_index("ix_drift_labels_target_labelled", ["target_id", "labelled_at"], unique=False)

    op.create_table(
        "drift_references",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("candidate_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("policy_version", sa.Integer(), nullable=False),
        sa.Column("thresholds", JSON(), nullable=False),
        sa.Column("profile", JSON(), nullable=False),
        sa.Column("class_metrics", JSON(), nullable=False),
        sa.Column("sample", JSON(), nullable=False),
        sa.Column("source", JSON(), nullable=False),
        sa.Column("created_at", TS(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["candidate_id"], ["candidates.id"], name=op.f("fk_drift_references_candidate_id_candidates")
        ),
        sa.ForeignKeyConstraint(
            ["target_id"], ["targets.id"], name=op.f("fk_drift_references_target_id_targets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drift_references")),
        sa.UniqueConstraint("target_id", "version", name="uq_drift_references_target_version"),
    )
    with op.batch_alter_table("drift_references", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_drift_references_candidate_id"), ["candidate_id"], unique=False)

    op.create_table(
        "drift_results",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("reference_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("window_start", TS(), nullable=False),
        sa.Column("window_end", TS(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("breached", sa.Boolean(), nullable=False),
        sa.Column("figures", JSON(), nullable=False),
        sa.Column("computed_at", TS(), nullable=False),
        sa.ForeignKeyConstraint(
            ["reference_id"],
            ["drift_references.id"],
            name=op.f("fk_drift_results_reference_id_drift_references"),
        ),
        sa.ForeignKeyConstraint(
            ["target_id"], ["targets.id"], name=op.f("fk_drift_results_target_id_targets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drift_results")),
        sa.UniqueConstraint("target_id", "kind", "window_start", name="uq_drift_results_target_kind_window"),
    )

    op.create_table(
        "drift_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("reference_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("since", TS(), nullable=False),
        sa.Column("opened_at", TS(), nullable=False),
        sa.Column("last_seen_at", TS(), nullable=False),
        sa.Column("resolved_at", TS(), nullable=True),
        sa.Column("figures", JSON(), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("reasons", JSON(), nullable=False),
        sa.Column("triage", JSON(), nullable=False),
        sa.Column("training_run_id", sa.Uuid(), nullable=True),
        sa.Column("retrain_note", sa.Text(), nullable=True),
        sa.Column("paged_at", TS(), nullable=True),
        sa.Column("ack_by", sa.String(length=200), nullable=True),
        sa.Column("ack_at", TS(), nullable=True),
        sa.Column("ack_reason", sa.Text(), nullable=True),
        sa.Column("seasonal", sa.Boolean(), nullable=False),
        sa.Column("suppress_until", TS(), nullable=True),
        sa.ForeignKeyConstraint(
            ["reference_id"],
            ["drift_references.id"],
            name=op.f("fk_drift_events_reference_id_drift_references"),
        ),
        sa.ForeignKeyConstraint(
            ["target_id"], ["targets.id"], name=op.f("fk_drift_events_target_id_targets")
        ),
        sa.ForeignKeyConstraint(
            ["training_run_id"],
            ["training_runs.id"],
            name=op.f("fk_drift_events_training_run_id_training_runs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drift_events")),
    )
    with op.batch_alter_table("drift_events", schema=None) as batch_op:
        batch_op.create_index("ix_drift_events_target_opened", ["target_id", "opened_at"], unique=False)
        batch_op.create_index(
            "uq_drift_events_one_live",
            ["target_id", "kind"],
            unique=True,
            postgresql_where=sa.text(LIVE),
            sqlite_where=sa.text(LIVE),
        )


def downgrade() -> None:
    with op.batch_alter_table("drift_events", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_drift_events_one_live", postgresql_where=sa.text(LIVE), sqlite_where=sa.text(LIVE)
        )
        batch_op.drop_index("ix_drift_events_target_opened")

    op.drop_table("drift_events")
    op.drop_table("drift_results")
    with op.batch_alter_table("drift_references", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_drift_references_candidate_id"))

    op.drop_table("drift_references")
    with op.batch_alter_table("drift_labels", schema=None) as batch_op:
        batch_op.drop_index("ix_drift_labels_target_labelled")

    op.drop_table("drift_labels")
    with op.batch_alter_table("drift_prediction_logs", schema=None) as batch_op:
        batch_op.drop_index("ix_drift_prediction_logs_target_ts")

    op.drop_table("drift_prediction_logs")
