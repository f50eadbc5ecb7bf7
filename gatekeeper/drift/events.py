"""Drift events: list them and acknowledge them (an acknowledgement is audited)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from gatekeeper.db import get_by_id
from gatekeeper.drift.models import LIVE_STATUSES, DriftEvent
from gatekeeper.drift.schemas import AckIn
from gatekeeper.drift.triage import triage
from gatekeeper.errors import Conflict, ValidationFailed
from gatekeeper.registry import audit
from gatekeeper.registry import service as registry


def get_event(session: Session, event_id: str | uuid.UUID, *, lock: bool = False) -> DriftEvent:
    return get_by_id(session, DriftEvent, event_id, what="drift event", field="event_id", lock=lock)


def list_events(
    session: Session, *, target_name: str, status: str | None = None, limit: int = 100
) -> list[DriftEvent]:
    target = registry.get_target(session, target_name)
    stmt = (
        select(DriftEvent)
        .where(DriftEvent.target_id == target.id)
        .order_by(DriftEvent.opened_at.desc(), DriftEvent.id)
        .limit(limit)
    )
    if status == "live":
        stmt = stmt.where(DriftEvent.status.in_(LIVE_STATUSES))
    elif status:
        stmt = stmt.where(DriftEvent.status == status)
    return list(session.scalars(stmt))


def acknowledge(session: Session, *, event_id: str, spec: AckIn, actor: str, now: datetime) -> DriftEvent:
    """On-call has seen the event; a seasonal acknowledgement sets the action to none and suppresses
    this kind's alerts until ``until`` (or, without it, for as long as this event lasts)."""
    event = get_event(session, event_id, lock=True)
    if event.status not in LIVE_STATUSES:
        raise Conflict(
            f"drift event is {event.status}; only live events are acknowledged", status=event.status
        )
    if spec.until is not None and not spec.seasonal:
        raise ValidationFailed("until applies to seasonal acknowledgements only", field="until")
    if spec.until is not None and spec.until <= now:
        raise ValidationFailed(f"until must be in the future (now is {now.isoformat()})", field="until")
    before = {"status": event.status, "action": event.action, "seasonal": event.seasonal}
    event.status, event.ack_by, event.ack_at, event.ack_reason = "acknowledged", actor, now, spec.reason
    event.seasonal, event.suppress_until = spec.seasonal, spec.until
    if spec.seasonal:
        decision = triage(kind=event.kind, sustained_for=now - event.since, seasonal=True)
        event.action, event.reasons = decision.action, [*decision.reasons, f"on-call: {spec.reason}"]
    session.flush()
    after = {
        "status": event.status,
        "action": event.action,
        "seasonal": spec.seasonal,
        "until": spec.until.isoformat() if spec.until else None,
    }
    audit.record(
        session,
        actor,
        "drift.event.ack",
        "drift_event",
        event.id,
        before=before,
        after=after,
        note=spec.reason,
    )
    return event
