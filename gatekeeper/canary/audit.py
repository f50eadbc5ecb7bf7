"""The canary's audit trail: every change of a canary's state is one audit row on the canary."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from gatekeeper.canary.models import Canary
from gatekeeper.registry import audit


def record(
    session: Session,
    canary: Canary,
    action: str,
    actor: str,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    note: str | None = None,
) -> None:
    """Add the audit row of ``action`` on ``canary`` to the caller's transaction."""
    audit.record(session, actor, action, "canary", canary.id, before=before, after=after, note=note)
