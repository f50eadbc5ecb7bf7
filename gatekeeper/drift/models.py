"""Drift hub tables: logged predictions and late labels, the champion's reference, one result row per
target x kind x window, and drift events with their triage and acknowledgement."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from gatekeeper.clock import utcnow
from gatekeeper.db import Base, JSONType, UTCDateTime, partial_index, partial_unique

KINDS = ("input", "prediction", "label", "concept")
# Request ids compare byte by byte on Postgres: the log table's key takes every bulk row, and a locale's
# collation costs a strcoll per comparison for an order nothing reads (the labels join on it, so alike).
RequestId = String(200).with_variant(String(200, collation="C"), "postgresql")
LIVE_STATUSES = ("open", "acknowledged")


class PredictionLog(Base):
    """One served prediction. The key is (target, request_id), so a re-sent row can never count twice;
    there is no surrogate id and slice fields are plain columns, which keeps a row near 200 bytes. No
    foreign keys: each would cost a trigger call per row of a bulk COPY (half the insert time), both ids
    are checked when a batch is taken, and targets and candidates are never deleted."""

    __tablename__ = "drift_prediction_logs"
    __table_args__ = (Index("ix_drift_prediction_logs_target_ts", "target_id", "ts"),)

    target_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[str] = mapped_column(RequestId, primary_key=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime())
    candidate_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    prediction: Mapped[str] = mapped_column(String(100))
    confidence: Mapped[float] = mapped_column(Float)
    lang: Mapped[str | None] = mapped_column(String(50))
    cohort: Mapped[str | None] = mapped_column(String(50))
    device: Mapped[str | None] = mapped_column(String(50))
    catalog_tier: Mapped[str | None] = mapped_column(String(50))
    time_bucket: Mapped[str | None] = mapped_column(String(50))
    text: Mapped[str | None] = mapped_column(Text)
    features: Mapped[dict[str, Any] | None] = mapped_column(JSONType)


class DriftLabel(Base):
    """A late label. The served prediction is copied in when its log is known, so concept drift never
    needs the (shorter-lived) log rows and the label outlives them."""

    __tablename__ = "drift_labels"
    __table_args__ = (
        Index("ix_drift_labels_target_labelled", "target_id", "labelled_at"),
        # The labels still waiting for their log: a batch of logs back-fills these, never scans all.
        partial_index("ix_drift_labels_waiting", "target_id", where="prediction IS NULL"),
    )

    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id"), primary_key=True)
    request_id: Mapped[str] = mapped_column(RequestId, primary_key=True)
    label: Mapped[str] = mapped_column(String(100))
    labelled_at: Mapped[datetime] = mapped_column(UTCDateTime())
    prediction: Mapped[str | None] = mapped_column(String(100))
    candidate_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("candidates.id"))


class DriftReference(Base):
    """The distributions a champion is compared against, versioned per target, with the drift
    thresholds pinned from the policy at the moment it was built."""

    __tablename__ = "drift_references"
    __table_args__ = (UniqueConstraint("target_id", "version", name="uq_drift_references_target_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id"))
    candidate_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("candidates.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    policy_version: Mapped[int] = mapped_column(Integer)
    thresholds: Mapped[dict[str, Any]] = mapped_column(JSONType)
    profile: Mapped[dict[str, Any]] = mapped_column(JSONType)
    class_metrics: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # A seeded subsample of reference rows (columnar), only for the Evidently report.
    sample: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    source: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))


class DriftResult(Base):
    """One kind's figures for one window; ``value`` is the number its threshold applies to."""

    __tablename__ = "drift_results"
    __table_args__ = (
        UniqueConstraint("target_id", "kind", "window_start", name="uq_drift_results_target_kind_window"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id"))
    reference_id: Mapped[int] = mapped_column(ForeignKey("drift_references.id"))
    kind: Mapped[str] = mapped_column(String(20))
    window_start: Mapped[datetime] = mapped_column(UTCDateTime())
    window_end: Mapped[datetime] = mapped_column(UTCDateTime())
    n: Mapped[int] = mapped_column(Integer)
    value: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    breached: Mapped[bool] = mapped_column(Boolean, default=False)
    figures: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DriftEvent(Base):
    """A sustained alert of one kind, its triage, and what on-call and the hub did about it."""

    __tablename__ = "drift_events"
    __table_args__ = (
        # One live event per target and kind: a daemon pass updates it instead of opening another.
        partial_unique(
            "uq_drift_events_one_live", "target_id", "kind", where="status IN ('open', 'acknowledged')"
        ),
        Index("ix_drift_events_target_opened", "target_id", "opened_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id"))
    reference_id: Mapped[int] = mapped_column(ForeignKey("drift_references.id"))
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="open")
    since: Mapped[datetime] = mapped_column(UTCDateTime())
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    figures: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    action: Mapped[str] = mapped_column(String(20))
    reasons: Mapped[list[str]] = mapped_column(JSONType, default=list)
    triage: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    training_run_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("training_runs.id"))
    retrain_note: Mapped[str | None] = mapped_column(Text)
    paged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ack_by: Mapped[str | None] = mapped_column(String(200))
    ack_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ack_reason: Mapped[str | None] = mapped_column(Text)
    seasonal: Mapped[bool] = mapped_column(Boolean, default=False)
    suppress_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
