"""Hash-chain the audit log: each row carries its hash and the previous row's; one head row holds the
last hash. Existing rows are chained in id order, with the same function that verifies them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gatekeeper.db import JSONType, UTCDateTime
from gatekeeper.registry.chain import GENESIS, link_hash

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_AUDIT = sa.table(
    "audit_events",
    sa.column("id", sa.BigInteger()),
    sa.column("at", UTCDateTime()),
    *(sa.column(name, sa.String()) for name in ("actor", "action", "entity_type", "entity_id", "note")),
    sa.column("before", JSONType),
    sa.column("after", JSONType),
    sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()),
)
# SQLite cannot disable a trigger: the backfill drops the UPDATE guard of 0001 and puts it back.
_SQLITE_NO_UPDATE = """CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
       BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"""


def _backfill(conn: sa.Connection) -> tuple[str, int | None]:
    """Chain the existing rows in id order; return the last hash and id."""
    prev, last_id = GENESIS, None
    rows = conn.execute(sa.select(_AUDIT).order_by(_AUDIT.c.id)).mappings().all()
    for row in rows:
        digest = link_hash(dict(row), prev)
        conn.execute(_AUDIT.update().where(_AUDIT.c.id == row["id"]).values(prev_hash=prev, hash=digest))
        prev, last_id = digest, row["id"]
    return prev, last_id


def _unguarded_backfill() -> tuple[str, int | None]:
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        op.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only")
        chained = _backfill(conn)
        op.execute("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only")
        return chained
    op.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
    chained = _backfill(conn)
    op.execute(_SQLITE_NO_UPDATE)
    return chained


def upgrade() -> None:
    op.add_column("audit_events", sa.Column("prev_hash", sa.String(length=64), nullable=True))
    op.add_column("audit_events", sa.Column("hash", sa.String(length=64), nullable=True))
    head = op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("last_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain_head")),
    )
    last_hash, last_id = _unguarded_backfill()
    op.bulk_insert(head, [{"id": 1, "hash": last_hash, "last_id": last_id}])


def downgrade() -> None:
    op.drop_table("audit_chain_head")
    # Plain ALTER TABLE on both engines: a batch copy of the table on SQLite would drop its triggers.
    op.execute("ALTER TABLE audit_events DROP COLUMN hash")
    op.execute("ALTER TABLE audit_events DROP COLUMN prev_hash")
