"""Canaries, their metric windows, and the canary daemon's lease."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gatekeeper.clock import utcnow
from gatekeeper.db import Base, JSONType, UTCDateTime, partial_unique


class DaemonLease(Base):
    """Which canary daemon leads, and when it last ticked (the dashboard and the standby read this)."""

    __tablename__ = "daemon_leases"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ticks: Mapped[int] = mapped_column(Integer, default=0)


class Canary(Base):
    """A staged rollout of one candidate against the champion it may replace."""

    __tablename__ = "canaries"
    __table_args__ = (
        # One live canary per target: running, or aborted and waiting for on-call.
        partial_unique("uq_canaries_one_live", "target_id", where="state IN ('running', 'aborted')"),
        Index("ix_canaries_state", "state"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id"))
    candidate_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("candidates.id"), index=True)
    champion_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("candidates.id"))
    state: Mapped[str] = mapped_column(String(20), default="running")
    extended: Mapped[bool] = mapped_column(Boolean, default=False)
    plan: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    stage: Mapped[int] = mapped_column(Integer, default=0)
    stage_started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Canary windows before this instant are not judged again (set when on-call re-enables).
    armed_since: Mapped[datetime] = mapped_column(UTCDateTime())
    baseline_start: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    aborted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The bake after full promotion: state `baking` from promoted_at until bake_until (DESIGN §8).
    promoted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    bake_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    trigger: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    reenables: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(200))


class MetricWindow(Base):
    """A 5-minute window of online metrics for one group. Times are epoch seconds: the daemon reads a
    day of windows for every running canary each tick, and integers are what it computes with."""

    __tablename__ = "metric_windows"
    __table_args__ = (
        UniqueConstraint("canary_id", "grp", "start_s", name="uq_metric_windows_canary_group_start"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    canary_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("canaries.id"))
    grp: Mapped[str] = mapped_column(String(10))
    start_s: Mapped[int] = mapped_column(BigInteger)
    end_s: Mapped[int] = mapped_column(BigInteger)
    requests: Mapped[int] = mapped_column(Integer)
    errors: Mapped[int] = mapped_column(Integer)
    latency_p99_ms: Mapped[float] = mapped_column(Float)
    safety: Mapped[dict[str, float]] = mapped_column(JSONType, default=dict)
    exceptions: Mapped[dict[str, int]] = mapped_column(JSONType, default=dict)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
