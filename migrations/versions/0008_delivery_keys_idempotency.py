"""Exactly-once delivery and safe retries: a per-message idempotency key on the outbox, and the table of
idempotency keys for state-changing requests.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("idempotency_key", sa.String(length=64), nullable=True))
    # Messages already queued get a key from their id: unique, and stable across a re-send.
    op.execute("UPDATE outbox SET idempotency_key = 'gk-outbox-' || CAST(id AS VARCHAR(20))")
    with op.batch_alter_table("outbox") as batch:
        batch.alter_column("idempotency_key", existing_type=sa.String(length=64), nullable=False)
        batch.create_unique_constraint(op.f("uq_outbox_idempotency_key"), ["idempotency_key"])
    op.create_table(
        "idempotency_keys",
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("route", sa.String(length=300), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("actor", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_index(op.f("ix_idempotency_keys_created_at"), "idempotency_keys", ["created_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_idempotency_keys_created_at"), table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_constraint(op.f("uq_outbox_idempotency_key"), type_="unique")
        batch.drop_column("idempotency_key")
