"""Shadow records, canaries with their metric windows, the daemon lease and the notification outbox.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def TS() -> sa.DateTime:  # noqa: N802 - reads like a type in the table definitions
    return sa.DateTime(timezone=True)


def JSON() -> sa.types.TypeEngine:  # noqa: N802
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "daemon_leases",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("acquired_at", TS(), nullable=False),
        sa.Column("heartbeat_at", TS(), nullable=False),
        sa.Column("ticks", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_daemon_leases")),
    )
    op.create_table(
        "outbox",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("payload", JSON(), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TS(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", TS(), nullable=False),
        sa.Column("delivered_at", TS(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_pending", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_source"), ["source"], unique=False)

    op.create_table(
        "canaries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("candidate_id", sa.Uuid(), nullable=False),
        sa.Column("champion_id", sa.Uuid(), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("extended", sa.Boolean(), nullable=False),
        sa.Column("plan", JSON(), nullable=False),
        sa.Column("stage", sa.Integer(), nullable=False),
        sa.Column("stage_started_at", TS(), nullable=False),
        sa.Column("armed_since", TS(), nullable=False),
        sa.Column("baseline_start", TS(), nullable=False),
        sa.Column("started_at", TS(), nullable=False),
        sa.Column("aborted_at", TS(), nullable=True),
        sa.Column("finished_at", TS(), nullable=True),
        sa.Column("trigger", JSON(), nullable=True),
        sa.Column("reenables", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["candidate_id"], ["candidates.id"], name=op.f("fk_canaries_candidate_id_candidates")
        ),
        sa.ForeignKeyConstraint(
            ["champion_id"], ["candidates.id"], name=op.f("fk_canaries_champion_id_candidates")
        ),
        sa.ForeignKeyConstraint(["target_id"], ["targets.id"], name=op.f("fk_canaries_target_id_targets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_canaries")),
    )
    with op.batch_alter_table("canaries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_canaries_candidate_id"), ["candidate_id"], unique=False)
        batch_op.create_index("ix_canaries_state", ["state"], unique=False)
        batch_op.create_index(
            "uq_canaries_one_live",
            ["target_id"],
            unique=True,
            postgresql_where=sa.text("state IN ('running', 'aborted')"),
            sqlite_where=sa.text("state IN ('running', 'aborted')"),
        )

    op.create_table(
        "shadow_records",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("candidate_id", sa.Uuid(), nullable=False),
        sa.Column("request_id", sa.String(length=200), nullable=False),
        sa.Column("ts", TS(), nullable=False),
        sa.Column("slices", JSON(), nullable=False),
        sa.Column("champion_prediction", sa.Text(), nullable=True),
        sa.Column("candidate_prediction", sa.Text(), nullable=True),
        sa.Column("champion_latency_ms", sa.Float(), nullable=False),
        sa.Column("candidate_latency_ms", sa.Float(), nullable=False),
        sa.Column("champion_error", sa.Boolean(), nullable=False),
        sa.Column("candidate_error", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["candidate_id"], ["candidates.id"], name=op.f("fk_shadow_records_candidate_id_candidates")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shadow_records")),
        sa.UniqueConstraint("candidate_id", "request_id", name="uq_shadow_records_candidate_request"),
    )
    with op.batch_alter_table("shadow_records", schema=None) as batch_op:
        batch_op.create_index("ix_shadow_records_candidate_ts", ["candidate_id", "ts"], unique=False)

    op.create_table(
        "metric_windows",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("canary_id", sa.Uuid(), nullable=False),
        sa.Column("grp", sa.String(length=10), nullable=False),
        sa.Column("start_s", sa.BigInteger(), nullable=False),
        sa.Column("end_s", sa.BigInteger(), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("latency_p99_ms", sa.Float(), nullable=False),
        sa.Column("safety", JSON(), nullable=False),
        sa.Column("exceptions", JSON(), nullable=False),
        sa.Column("received_at", TS(), nullable=False),
        sa.ForeignKeyConstraint(
            ["canary_id"], ["canaries.id"], name=op.f("fk_metric_windows_canary_id_canaries")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metric_windows")),
        sa.UniqueConstraint("canary_id", "grp", "start_s", name="uq_metric_windows_canary_group_start"),
    )


def downgrade() -> None:
    op.drop_table("metric_windows")
    with op.batch_alter_table("shadow_records", schema=None) as batch_op:
        batch_op.drop_index("ix_shadow_records_candidate_ts")

    op.drop_table("shadow_records")
    with op.batch_alter_table("canaries", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_canaries_one_live",
            postgresql_where=sa.text("state IN ('running', 'aborted')"),
            sqlite_where=sa.text("state IN ('running', 'aborted')"),
        )
        batch_op.drop_index("ix_canaries_state")
        batch_op.drop_index(batch_op.f("ix_canaries_candidate_id"))

    op.drop_table("canaries")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_source"))
        batch_op.drop_index("ix_outbox_pending")

    op.drop_table("outbox")
    op.drop_table("daemon_leases")
