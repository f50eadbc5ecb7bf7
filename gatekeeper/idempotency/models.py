"""Answers to state-changing requests, kept by idempotency key so a retry after a lost answer gets the
same answer instead of a second change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from gatekeeper.clock import utcnow
from gatekeeper.db import Base, JSONType, UTCDateTime


class IdempotentRequest(Base):
    """One key per caller: the request it was first used for (route and body fingerprint) and its answer,
    written in the same transaction as the change it answers."""

    __tablename__ = "idempotency_keys"

    actor: Mapped[str] = mapped_column(String(200), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    route: Mapped[str] = mapped_column(String(300))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer, default=200)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
