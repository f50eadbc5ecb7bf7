"""Shadow as a stage that ends: one row per shadow with its server-clock start, end and frozen verdict.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def TS() -> sa.DateTime:  # noqa: N802 - reads like a type in the table definitions
    return sa.DateTime(timezone=True)


def JSON() -> sa.types.TypeEngine:  # noqa: N802
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "shadows",
        sa.Column("candidate_id", sa.Uuid(), nullable=False),
        sa.Column("started_at", TS(), nullable=False),
        sa.Column("started_by", sa.String(length=200), nullable=False),
        sa.Column("ended_at", TS(), nullable=True),
        sa.Column("verdict", sa.String(length=20), nullable=True),
        sa.Column("summary", JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["candidate_id"], ["candidates.id"], name=op.f("fk_shadows_candidate_id_candidates")
        ),
        sa.PrimaryKeyConstraint("candidate_id", name=op.f("pk_shadows")),
    )
    # A candidate already in shadow keeps its shadow: it started when it entered that status.
    op.execute(
        "INSERT INTO shadows (candidate_id, started_at, started_by) "
        "SELECT id, status_changed_at, 'migration 0005b' FROM candidates WHERE status = 'shadow'"
    )


def downgrade() -> None:
    op.drop_table("shadows")
