"""Write notifications into the outbox (inside the caller's transaction) and deliver them later."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from gatekeeper.clock import Clock, SystemClock
from gatekeeper.config import Settings
from gatekeeper.db import Database, is_postgres
from gatekeeper.notify.models import OutboxMessage
from gatekeeper.notify.payloads import pagerduty_event, slack_message

log = logging.getLogger("gatekeeper.notify")
MAX_ATTEMPTS = 25
MAX_BACKOFF = timedelta(minutes=5)
IDEMPOTENCY_HEADER = "Idempotency-Key"
# How long a `sending` mark holds a message: past it, its sender is taken for dead and the message is sent
# again with the same key. Longer than a POST can take (the sender's timeout), so a slow POST is not
# doubled by a second sender.
CLAIM = timedelta(seconds=30)


def _queued(channel: str, url: str, *, source: str, now: datetime, payload: dict[str, Any]) -> OutboxMessage:
    """An outbox message due now."""
    return OutboxMessage(
        channel=channel, url=url, source=source, next_attempt_at=now, created_at=now, payload=payload
    )


def _slack(url: str, *, title: str, sev: str, lines: list[str], source: str, now: datetime) -> OutboxMessage:
    return _queued(
        "slack", url, source=source, now=now, payload=slack_message(title=title, sev=sev, lines=lines)
    )


def page(
    session: Session,
    settings: Settings,
    *,
    title: str,
    sev: str = "SEV-3",
    lines: list[str],
    dedup_key: str,
    source: str,
    component: str,
    details: dict[str, Any],
    now: datetime,
) -> list[OutboxMessage]:
    """Queue a page (PagerDuty) and a Slack message for every configured webhook: what (title, severity,
    lines), how it deduplicates and where from (key, source, component, details), and when."""
    messages = []
    if settings.pagerduty_url:
        event = pagerduty_event(
            routing_key=settings.pagerduty_routing_key,
            summary=f"{title}: {lines[0]}" if lines else title,
            dedup_key=dedup_key,
            sev=sev,
            source="gatekeeper",
            component=component,
            details=details,
        )
        messages.append(_queued("pagerduty", settings.pagerduty_url, source=source, now=now, payload=event))
    if settings.slack_webhook_url:
        messages.append(
            _slack(settings.slack_webhook_url, title=title, sev=sev, lines=lines, source=source, now=now)
        )
    if not messages:
        log.warning("no webhook configured: %s (%s) is recorded but nobody is paged", title, source)
    session.add_all(messages)
    return messages


def inform(
    session: Session,
    settings: Settings,
    *,
    title: str,
    lines: list[str],
    source: str,
    now: datetime,
    sev: str = "INFO",
) -> list[OutboxMessage]:
    """Queue a Slack message only: news for the team (a stage ended), not an incident to page on."""
    if not settings.slack_webhook_url:
        log.warning("no Slack webhook configured: %s (%s) is recorded but nobody is told", title, source)
        return []
    message = _slack(settings.slack_webhook_url, title=title, sev=sev, lines=lines, source=source, now=now)
    session.add(message)
    return [message]


def backoff(attempts: int) -> timedelta:
    return min(timedelta(seconds=2 ** min(attempts, 10)), MAX_BACKOFF)


@dataclass
class Delivery:
    delivered: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Claimed:
    """A message marked ``sending`` and committed: what its POST needs, read before the commit."""

    id: int
    channel: str
    url: str
    payload: dict[str, Any]
    key: str
    attempts: int


def _claim_one(db: Database, now: datetime, claim: timedelta) -> _Claimed | None:
    """Mark the oldest due message ``sending`` in a short transaction of its own, before its POST.

    A ``sending`` mark older than ``claim`` is a sender that died between its POST and the commit of
    the outcome: that message is due again and goes out with the same key (at least once; the receiver
    folds the repeat by key)."""
    with db.transaction() as session:
        stmt = (
            select(OutboxMessage)
            .where(OutboxMessage.status.in_(("pending", "sending")), OutboxMessage.next_attempt_at <= now)
            .order_by(OutboxMessage.id)
            .limit(1)
        )
        if is_postgres(session):
            stmt = stmt.with_for_update(skip_locked=True)
        message = session.scalar(stmt)
        if message is None:
            return None
        message.status, message.next_attempt_at = "sending", now + claim
        message.attempts += 1
        return _Claimed(
            message.id,
            message.channel,
            message.url,
            message.payload,
            message.idempotency_key,
            message.attempts,
        )


def _send(http: httpx.Client, message: _Claimed) -> str | None:
    try:
        response = http.post(message.url, json=message.payload, headers={IDEMPOTENCY_HEADER: message.key})
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None if response.is_success else f"HTTP {response.status_code}: {response.text[:200]}"


def _settle(db: Database, claimed: _Claimed, error: str | None, now: datetime) -> None:
    """Commit the POST's outcome: delivered, or pending again after a backoff, or dead."""
    with db.transaction() as session:
        message = session.get(OutboxMessage, claimed.id, with_for_update=True)
        if message is None or message.status != "sending":
            return
        if error is None:
            message.status, message.delivered_at, message.last_error = "delivered", now, None
            return
        message.status, message.last_error = "pending", error
        message.next_attempt_at = now + backoff(message.attempts)
        if message.attempts >= MAX_ATTEMPTS:
            message.status = "dead"
            log.error(
                "giving up on %s message %s after %d attempts: %s",
                claimed.channel,
                claimed.id,
                claimed.attempts,
                error,
            )


def deliver_due(
    db: Database, *, now: datetime, http: httpx.Client, limit: int = 50, claim: timedelta = CLAIM
) -> Delivery:
    """Try every due message once, each marked ``sending`` (committed) before its POST and settled after;
    failures are rescheduled with exponential backoff."""
    report = Delivery()
    for _ in range(limit):
        claimed = _claim_one(db, now, claim)
        if claimed is None:
            break
        error = _send(http, claimed)
        _settle(db, claimed, error, now)
        if error is None:
            report.delivered += 1
        else:
            report.failed += 1
            report.errors.append(error)
    return report


class Sender:
    """Deliver the outbox in a background thread, so a slow webhook never holds up a rollback."""

    def __init__(
        self,
        db: Database,
        *,
        clock: Clock | None = None,
        interval: float = 2.0,
        timeout: float = 5.0,
        claim: timedelta = CLAIM,
    ) -> None:
        self.db, self.clock, self.interval, self.claim = db, clock or SystemClock(), interval, claim
        self.http = httpx.Client(timeout=timeout)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="outbox-sender", daemon=True)

    def _loop(self) -> None:
        while not self.stop.is_set():
            try:
                deliver_due(self.db, now=self.clock.now(), http=self.http, claim=self.claim)
            except Exception:  # keep delivering whatever happens to one batch
                log.exception("outbox delivery failed")
            self.stop.wait(self.interval)

    def start(self) -> Sender:
        self.thread.start()
        return self

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        self.http.close()
