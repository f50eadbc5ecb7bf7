"""Registry: targets with pinned policies, training runs, candidates, decisions, evaluations,
the append-only audit log and API tokens.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def TS() -> sa.DateTime:  # noqa: N802 - reads like a type in the table definitions
    return sa.DateTime(timezone=True)


def JSON() -> sa.types.TypeEngine:  # noqa: N802
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


# The audit log is append-only: the database itself refuses UPDATE and DELETE on it.
_PG_AUDIT_GUARD = """
CREATE OR REPLACE FUNCTION gatekeeper_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION gatekeeper_audit_append_only();
"""
_SQLITE_AUDIT_GUARD = [
    """CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
       BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END""",
    """CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
       BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END""",
]


def _guard_audit() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_AUDIT_GUARD)
    else:
        for statement in _SQLITE_AUDIT_GUARD:
            op.execute(statement)


def _unguard_audit() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS gatekeeper_audit_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_delete")


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("secret_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", TS(), nullable=False),
        sa.Column("revoked_at", TS(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("name", name=op.f("uq_api_tokens_name")),
        sa.UniqueConstraint("secret_sha256", name=op.f("uq_api_tokens_secret_sha256")),
    )
    op.create_table(
        "audit_events",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("at", TS(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("entity_type", sa.String(length=50), nullable=False),
        sa.Column("entity_id", sa.String(length=100), nullable=False),
        sa.Column("before", JSON(), nullable=True),
        sa.Column("after", JSON(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index("ix_audit_entity", ["entity_type", "entity_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_events_actor"), ["actor"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_events_at"), ["at"], unique=False)
    _guard_audit()

    op.create_table(
        "targets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("task", sa.String(length=20), nullable=False),
        sa.Column("policy_version", sa.Integer(), nullable=False),
        sa.Column("always_extended_canary", sa.Boolean(), nullable=False),
        sa.Column("rollback_sla_seconds", sa.Integer(), nullable=False),
        sa.Column("next_version", sa.Integer(), nullable=False),
        sa.Column("routing_generation", sa.Integer(), nullable=False),
        sa.Column("created_at", TS(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_targets")),
        sa.UniqueConstraint("name", name=op.f("uq_targets_name")),
    )
    op.create_table(
        "policy_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("yaml", sa.Text(), nullable=False),
        sa.Column("body", JSON(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", TS(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["target_id"], ["targets.id"], name=op.f("fk_policy_versions_target_id_targets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_versions")),
        sa.UniqueConstraint("target_id", "version", name=op.f("uq_policy_versions_target_id")),
    )
    op.create_table(
        "training_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("trainer", sa.String(length=50), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("tags", JSON(), nullable=False),
        sa.Column("params", JSON(), nullable=False),
        sa.Column("metrics", JSON(), nullable=False),
        sa.Column("log_path", sa.Text(), nullable=True),
        sa.Column("output_uri", sa.Text(), nullable=True),
        sa.Column("output_sha256", sa.String(length=64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", TS(), nullable=False),
        sa.Column("started_at", TS(), nullable=True),
        sa.Column("finished_at", TS(), nullable=True),
        sa.ForeignKeyConstraint(
            ["target_id"], ["targets.id"], name=op.f("fk_training_runs_target_id_targets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_runs")),
    )
    with op.batch_alter_table("training_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_training_runs_target_id"), ["target_id"], unique=False)

    op.create_table(
        "candidates",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("artifact_uri", sa.Text(), nullable=False),
        sa.Column("artifact_sha256", sa.String(length=64), nullable=False),
        sa.Column("model_target", sa.String(length=100), nullable=False),
        sa.Column("code_revision", sa.String(length=200), nullable=False),
        sa.Column("data_snapshot_id", sa.String(length=200), nullable=False),
        sa.Column("label_version", sa.String(length=100), nullable=False),
        sa.Column("feature_schema_version", sa.String(length=100), nullable=False),
        sa.Column("seed", sa.String(length=50), nullable=False),
        sa.Column("training_run_id", sa.Uuid(), nullable=True),
        sa.Column("submitter", sa.String(length=200), nullable=False),
        sa.Column("metadata", JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("status_changed_at", TS(), nullable=False),
        sa.Column("created_at", TS(), nullable=False),
        sa.ForeignKeyConstraint(["target_id"], ["targets.id"], name=op.f("fk_candidates_target_id_targets")),
        sa.ForeignKeyConstraint(
            ["training_run_id"],
            ["training_runs.id"],
            name=op.f("fk_candidates_training_run_id_training_runs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_candidates")),
        sa.UniqueConstraint("target_id", "artifact_sha256", name="uq_candidates_target_artifact"),
        sa.UniqueConstraint("target_id", "version", name="uq_candidates_target_version"),
    )
    with op.batch_alter_table("candidates", schema=None) as batch_op:
        batch_op.create_index("ix_candidates_created", ["created_at", "id"], unique=False)
        batch_op.create_index("ix_candidates_target_status", ["target_id", "status"], unique=False)
        batch_op.create_index(
            "uq_candidates_one_champion",
            ["target_id"],
            unique=True,
            postgresql_where=sa.text("status = 'champion'"),
            sqlite_where=sa.text("status = 'champion'"),
        )

    op.create_table(
        "decisions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("candidate_id", sa.Uuid(), nullable=False),
        sa.Column("stage", sa.String(length=20), nullable=False),
        sa.Column("verdict", sa.String(length=20), nullable=False),
        sa.Column("reasons", JSON(), nullable=False),
        sa.Column("details", JSON(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("created_at", TS(), nullable=False),
        sa.ForeignKeyConstraint(
            ["candidate_id"], ["candidates.id"], name=op.f("fk_decisions_candidate_id_candidates")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decisions")),
    )
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_decisions_candidate_id"), ["candidate_id"], unique=False)

    op.create_table(
        "evaluations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("candidate_id", sa.Uuid(), nullable=False),
        sa.Column("champion_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("mode", sa.String(length=20), nullable=False),
        sa.Column("predictions_uri", sa.Text(), nullable=True),
        sa.Column("predictions_sha256", sa.String(length=64), nullable=True),
        sa.Column("policy_version", sa.Integer(), nullable=False),
        sa.Column("evalset_dir", sa.Text(), nullable=True),
        sa.Column("manifest_version", sa.String(length=100), nullable=True),
        sa.Column("evalset_files", JSON(), nullable=False),
        sa.Column("progress", JSON(), nullable=False),
        sa.Column("results", JSON(), nullable=False),
        sa.Column("decision_id", sa.Uuid(), nullable=True),
        sa.Column("reports", JSON(), nullable=False),
        sa.Column("timings", JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", TS(), nullable=False),
        sa.Column("started_at", TS(), nullable=True),
        sa.Column("finished_at", TS(), nullable=True),
        sa.ForeignKeyConstraint(
            ["candidate_id"], ["candidates.id"], name=op.f("fk_evaluations_candidate_id_candidates")
        ),
        sa.ForeignKeyConstraint(
            ["champion_id"], ["candidates.id"], name=op.f("fk_evaluations_champion_id_candidates")
        ),
        sa.ForeignKeyConstraint(
            ["decision_id"], ["decisions.id"], name=op.f("fk_evaluations_decision_id_decisions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluations")),
    )
    with op.batch_alter_table("evaluations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_evaluations_candidate_id"), ["candidate_id"], unique=False)


def downgrade() -> None:
    _unguard_audit()
    with op.batch_alter_table("evaluations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evaluations_candidate_id"))

    op.drop_table("evaluations")
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_decisions_candidate_id"))

    op.drop_table("decisions")
    with op.batch_alter_table("candidates", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_candidates_one_champion",
            postgresql_where=sa.text("status = 'champion'"),
            sqlite_where=sa.text("status = 'champion'"),
        )
        batch_op.drop_index("ix_candidates_target_status")
        batch_op.drop_index("ix_candidates_created")

    op.drop_table("candidates")
    with op.batch_alter_table("training_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_training_runs_target_id"))

    op.drop_table("training_runs")
    op.drop_table("policy_versions")
    op.drop_table("targets")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_events_at"))
        batch_op.drop_index(batch_op.f("ix_audit_events_actor"))
        batch_op.drop_index("ix_audit_entity")

    op.drop_table("audit_events")
    op.drop_table("api_tokens")
