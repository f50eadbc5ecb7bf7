"""Shadow records and shadows."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gatekeeper.db import Base, JSONType, UTCDateTime


class ShadowRecord(Base):
    """One request served by the champion and mirrored to the candidate (DESIGN section 7)."""

    __tablename__ = "shadow_records"
    __table_args__ = (
        UniqueConstraint("candidate_id", "request_id", name="uq_shadow_records_candidate_request"),
        Index("ix_shadow_records_candidate_ts", "candidate_id", "ts"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    candidate_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("candidates.id"))
    request_id: Mapped[str] = mapped_column(String(200))
    ts: Mapped[datetime] = mapped_column(UTCDateTime())
    slices: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    champion_prediction: Mapped[str | None] = mapped_column(Text)
    candidate_prediction: Mapped[str | None] = mapped_column(Text)
    champion_latency_ms: Mapped[float] = mapped_column(Float)
    candidate_latency_ms: Mapped[float] = mapped_column(Float)
    champion_error: Mapped[bool] = mapped_column(Boolean, default=False)
    candidate_error: Mapped[bool] = mapped_column(Boolean, default=False)


class Shadow(Base):
    """A candidate's one shadow stage, timed by the server clock: it starts when the candidate enters
    shadow and ends once, with a frozen verdict (pass, or fail with the candidate failed_promotion)."""

    __tablename__ = "shadows"

    candidate_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("candidates.id"), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_by: Mapped[str] = mapped_column(String(200))
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    verdict: Mapped[str | None] = mapped_column(String(20))
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
