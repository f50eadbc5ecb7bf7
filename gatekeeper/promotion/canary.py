"""Canary plans and stages (issue 6 fills this in)."""

from __future__ import annotations

from sqlalchemy.orm import Session


def running_shares(session: Session, target_id: int) -> dict[str, float]:
    """Traffic share per candidate id of the target's running canaries."""
    return {}
