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
    lines: list[str],
    dedup_key: str,
    source: str,
    component: str,
    details: dict[str, Any],
    now: datetime,
    sev: str = "SEV-3",
) -> list[OutboxMessage]:
    """Queue a page (PagerDuty) and a Slack message for every configured webhook."""
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


def _due(session: Session, now: datetime, limit: int) -> list[OutboxMessage]:
    stmt = (
        select(OutboxMessage)
        .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.id)
        .limit(limit)
    )
    if is_postgres(session):
        stmt = stmt.with_for_update(skip_locked=True)
    return list(session.scalars(stmt))


def _send(http: httpx.Client, message: OutboxMessage) -> str | None:
    try:
        response = http.post(message.url, json=message.payload)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None if response.is_success else f"HTTP {response.status_code}: {response.text[:200]}"


def deliver_due(db: Database, *, now: datetime, http: httpx.Client, limit: int = 50) -> Delivery:
    """Try every due message once; failures are rescheduled with exponential backoff."""
    report = Delivery()
    with db.transaction() as session:
        for message in _due(session, now, limit):
            error = _send(http, message)
            message.attempts += 1
            if error is None:
                message.status, message.delivered_at, message.last_error = "delivered", now, None
                report.delivered += 1
                continue
            report.failed += 1
            report.errors.append(error)
            message.last_error = error
            message.next_attempt_at = now + backoff(message.attempts)
            if message.attempts >= MAX_ATTEMPTS:
                message.status = "dead"
                log.error(
                    "giving up on %s message %s after %d attempts: %s",
                    message.channel,
                    message.id,
                    message.attempts,
                    error,
                )
    return report


class Sender:
    """Deliver the outbox in a background thread, so a slow webhook never holds up a rollback."""

    def __init__(
        self, db: Database, *, clock: Clock | None = None, interval: float = 2.0, timeout: float = 5.0
    ) -> None:
        self.db, self.clock, self.interval = db, clock or SystemClock(), interval
        self.http = httpx.Client(timeout=timeout)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="outbox-sender", daemon=True)

    def _loop(self) -> None:
        while not self.stop.is_set():
            try:
                deliver_due(self.db, now=self.clock.now(), http=self.http)
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
