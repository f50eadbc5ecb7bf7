"""The notification outbox: pages and chat messages written in the same transaction as the event that
caused them, then delivered (with retries) by a sender that can never delay or undo that event.

Each message carries its own idempotency key: a sender killed between a webhook's answer and the commit
of ``delivered`` sends the message again with the same key, and the receiver folds the repeat."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gatekeeper.clock import utcnow
from gatekeeper.db import Base, JSONType, UTCDateTime


class OutboxMessage(Base):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    channel: Mapped[str] = mapped_column(String(20))  # pagerduty | slack
    url: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    idempotency_key: Mapped[str] = mapped_column(
        String(64), unique=True, default=lambda: f"gk-outbox-{uuid.uuid4().hex}"
    )
    source: Mapped[str] = mapped_column(String(100), index=True)  # e.g. canary:<id>, drift:<id>
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending | sending | delivered | dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
