"""Evaluation rows: what was measured, against which champion and evalset files, and the outcome."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gatekeeper.clock import utcnow
from gatekeeper.db import Base, JSONType, UTCDateTime


class Evaluation(Base):
    __tablename__ = "evaluations"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    candidate_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("candidates.id"), index=True)
    champion_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("candidates.id"))
    status: Mapped[str] = mapped_column(String(20), default="queued")
    mode: Mapped[str] = mapped_column(String(20), default="artifact")
    predictions_uri: Mapped[str | None] = mapped_column(Text)
    predictions_sha256: Mapped[str | None] = mapped_column(String(64))
    policy_version: Mapped[int] = mapped_column()
    evalset_dir: Mapped[str | None] = mapped_column(Text)
    manifest_version: Mapped[str | None] = mapped_column(String(100))
    evalset_files: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    progress: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    results: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    decision_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("decisions.id"))
    reports: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    timings: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PredictionSet(Base):
    """Per-example predictions of one model on one evalset file: the predict-once cache.

    Keyed by ``(source_sha256, file_sha256)``: the source is the artifact's sha256 when Gatekeeper ran
    the model, or the submitted predictions file's sha256. The champion's rows are reused by every
    later candidate's evaluation instead of being recomputed. Rows are immutable.
    """

    __tablename__ = "prediction_sets"
    __table_args__ = (
        UniqueConstraint("source_sha256", "file_sha256", name="uq_prediction_sets_source_file"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source_sha256: Mapped[str] = mapped_column(String(64))
    file_sha256: Mapped[str] = mapped_column(String(64))
    file_name: Mapped[str] = mapped_column(String(200))
    # Predictions as columns (``columnar.py``: an npz of plain arrays, read with allow_pickle=False) and
    # the sha256 they were stored with, checked on every read.
    arrays: Mapped[bytes | None] = mapped_column(LargeBinary)
    arrays_sha256: Mapped[str | None] = mapped_column(String(64))
    # JSON: the latency samples of an artifact; predictions cached before migration 0010 (read as before).
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class OnlineMetric(Base):
    """The 28-day online metric of a promoted model, paired with its offline metric for correlation."""

    __tablename__ = "online_metrics"
    __table_args__ = (UniqueConstraint("candidate_id", "metric", name="uq_online_metrics_candidate_metric"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    candidate_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("candidates.id"), index=True)
    metric: Mapped[str] = mapped_column(String(100))
    value: Mapped[float] = mapped_column(Float)
    window_days: Mapped[int] = mapped_column(default=28)
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
