"""The predict-once cache stores predictions as columns (an npz blob and its sha256) instead of JSON rows;
``payload`` stays for latency samples and for the rows cached before.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("prediction_sets") as batch:
        batch.add_column(sa.Column("arrays", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("arrays_sha256", sa.String(length=64), nullable=True))
        batch.alter_column("payload", existing_type=JSON, nullable=True)


def downgrade() -> None:
    # A cache: the columnar rows are dropped (they are recomputed), the JSON ones kept.
    op.execute("DELETE FROM prediction_sets WHERE payload IS NULL")
    with op.batch_alter_table("prediction_sets") as batch:
        batch.alter_column("payload", existing_type=JSON, nullable=False)
        batch.drop_column("arrays_sha256")
        batch.drop_column("arrays")
