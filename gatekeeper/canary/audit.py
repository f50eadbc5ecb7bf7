"""The canary's records: every change of a canary's state is one audit row on the canary, every verdict
of its canary or bake stage one decision on the candidate, and every automatic rollback a page."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Unpack

from sqlalchemy.orm import Session

from gatekeeper.canary.models import Canary
from gatekeeper.config import Settings
from gatekeeper.notify import service as notify
from gatekeeper.registry import audit
from gatekeeper.registry import service as registry
from gatekeeper.registry.models import Candidate


def record(session: Session, canary: Canary, action: str, actor: str, **change: Unpack[audit.Change]) -> None:
    """Add the audit row of ``action`` on ``canary`` to the caller's transaction."""
    audit.record(session, actor, action, "canary", canary.id, **change)


def decide(
    session: Session,
    candidate: Candidate,
    stage: str,
    verdict: str,
    actor: str,
    reasons: Sequence[dict[str, Any]] = (),
    details: dict[str, Any] | None = None,
) -> None:
    """Record the ``verdict`` of the canary's ``stage`` (``canary`` or ``bake``) on the candidate: positional,
    as ``record``, so that a call reads as one line."""
    registry.record_decision(
        session,
        candidate=candidate,
        stage=stage,
        verdict=verdict,
        actor=actor,
        reasons=list(reasons),
        details=details,
    )


def page(
    session: Session,
    settings: Settings,
    canary: Canary,
    candidate: Candidate,
    *,
    title: str,
    lines: list[str],
    dedup_key: str,
    details: dict[str, Any],
    now: datetime,
) -> None:
    """Page on-call (title and lines) about ``canary``, from the canary, on the candidate's target."""
    notify.page(
        session,
        settings,
        title=title,
        lines=lines,
        dedup_key=dedup_key,
        source=f"canary:{canary.id}",
        component=candidate.target.name,
        details=details,
        now=now,
    )
