"""Run a state change once per idempotency key (pure bookkeeping in the caller's transaction).

The key row is inserted before the change runs: a concurrent request with the same key waits on that
row and then fails the primary key (409), so two requests never both change state. A retry of a
committed request finds the row and gets the stored answer; the same key on another request is 422."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from gatekeeper.errors import PreconditionFailed, ValidationFailed
from gatekeeper.idempotency.models import IdempotentRequest

KEY_FIELD = "Idempotency-Key"


def fingerprint(route: str, body: Any) -> str:
    """The request a key stands for: its route and its body, canonically serialised."""
    canonical = json.dumps({"route": route, "body": body}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def once(
    session: Session,
    *,
    actor: str,
    key: str | None,
    route: str,
    body: Any,
    change: Callable[[], dict[str, Any]],
) -> dict[str, Any]:
    """The stored answer of an earlier request with this key, or ``change()``'s, stored with the key."""
    if key is None:
        return change()
    digest = fingerprint(route, body)
    stored = session.get(IdempotentRequest, (actor, key))
    if stored is not None:
        if stored.fingerprint != digest:
            raise ValidationFailed(
                f"{KEY_FIELD} {key!r} was already used for another request ({stored.route}); "
                "use a new key for a new request",
                field=KEY_FIELD,
            )
        return dict(stored.response or {})
    row = IdempotentRequest(actor=actor, key=key, route=route, fingerprint=digest)
    session.add(row)
    session.flush()  # a concurrent twin blocks here, then fails the primary key
    row.response = change()
    return row.response


def expect(what: str, if_match: str | None, *, current: str | None, aliases: tuple[str, ...] = ()) -> None:
    """``If-Match``: refuse (412) unless the caller's expected value is the current one (or an alias of
    it, e.g. a champion's ``v3`` for its id)."""
    if if_match is None:
        return
    expected = if_match.removeprefix("W/").strip().strip('"')
    if current is None or expected not in (current, *aliases):
        raise PreconditionFailed(
            f"If-Match expected {what} {expected!r} but it is {current!r}; re-read and decide again",
            field="If-Match",
            current=current,
        )
