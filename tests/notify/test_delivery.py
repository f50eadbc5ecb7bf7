"""Outbox delivery on both engines: each message is marked ``sending`` in its own committed transaction
before its POST and carries one idempotency key for life; a sender that dies between the POST and the
commit of ``delivered`` leaves a ``sending`` mark, and once the claim lapses the message goes out again
with the same key, which the receiver folds (exactly once at the receiver)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from gatekeeper.notify import service as notify
from gatekeeper.notify.models import OutboxMessage
from gatekeeper.notify.receiver import LocalReceiver

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def receiver() -> Iterator[LocalReceiver]:
    r = LocalReceiver()
    yield r
    r.close()


def queue_page(db, settings, receiver: LocalReceiver) -> list[str]:  # noqa: ANN001
    settings.pagerduty_url, settings.slack_webhook_url = f"{receiver.url}/pd", f"{receiver.url}/slack"
    with db.transaction() as session:
        messages = notify.page(
            session,
            settings,
            title="Canary auto-abort",
            lines=["error_rate"],
            dedup_key="gatekeeper-canary-x-1",
            source="canary:x",
            component="intent",
            details={"rule": "error_rate"},
            now=NOW,
        )
        session.flush()
        return [m.idempotency_key for m in messages]


def statuses(db) -> list[str]:  # noqa: ANN001
    with db.session() as session:
        return list(session.scalars(select(OutboxMessage.status).order_by(OutboxMessage.id)))


def test_every_post_carries_the_message_key_and_the_page_its_dedup_key(db, settings, receiver) -> None:  # noqa: ANN001
    keys = queue_page(db, settings, receiver)
    assert len(set(keys)) == 2 and all(k.startswith("gk-outbox-") for k in keys)
    with httpx.Client() as http:
        assert notify.deliver_due(db, now=NOW, http=http).delivered == 2
    assert statuses(db) == ["delivered", "delivered"] and dict(receiver.seen) == dict.fromkeys(keys, 1)
    assert dict(receiver.bodies)["/pd"]["dedup_key"] == "gatekeeper-canary-x-1"


def test_a_sender_lost_mid_post_is_resent_with_the_same_key_once_its_claim_lapses(
    db,
    settings,
    receiver,  # noqa: ANN001
) -> None:
    keys = queue_page(db, settings, receiver)
    claim = timedelta(seconds=30)
    with httpx.Client() as http:
        claimed = notify._claim_one(db, NOW, claim)  # the sender's first step, committed ...
        assert claimed is not None and notify._send(http, claimed) is None  # ... the POST lands ...
        # ... and the sender dies before it commits `delivered`: the mark stays, nobody else sends it
        assert statuses(db) == ["sending", "pending"]
        assert notify.deliver_due(db, now=NOW + timedelta(seconds=5), http=http, claim=claim).delivered == 1
        assert statuses(db) == ["sending", "delivered"]
        later = notify.deliver_due(db, now=NOW + claim, http=http, claim=claim)
    assert later.delivered == 1 and statuses(db) == ["delivered", "delivered"]
    assert receiver.seen[keys[0]] == 2 and receiver.repeats == 1
    assert sorted(path for path, _ in receiver.bodies) == ["/pd", "/slack"]  # each accepted once


def test_a_failed_post_goes_back_to_pending_with_backoff(db, settings) -> None:  # noqa: ANN001
    failing = LocalReceiver(fail_first=2)
    try:
        queue_page(db, settings, failing)
        with httpx.Client() as http:
            first = notify.deliver_due(db, now=NOW, http=http)
            assert (first.delivered, first.failed) == (0, 2) and statuses(db) == ["pending", "pending"]
            assert notify.deliver_due(db, now=NOW + timedelta(seconds=1), http=http).delivered == 0
            assert notify.deliver_due(db, now=NOW + notify.backoff(1), http=http).delivered == 2
    finally:
        failing.close()
    assert len(failing.bodies) == 2 and failing.repeats == 0
