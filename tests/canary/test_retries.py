"""On-call's abort is retry-safe: the same Idempotency-Key replays the first answer (not a 409 saying the
canary is already failed), and the change, its decision and its audit row exist once."""

from __future__ import annotations

from sqlalchemy import func, select

from gatekeeper.registry.models import AuditEvent, Decision
from tests.conftest import snapshot


def test_a_retried_manual_abort_replays_its_answer(api, auth, db, canary) -> None:  # noqa: ANN001
    url = f"/v1/canaries/{canary['id']}/abort"
    headers = {**auth("oncall"), "Idempotency-Key": "abort-7f3"}
    first = api.post(url, json={"reason": "bad release"}, headers=headers)
    assert first.status_code == 200 and first.json()["state"] == "failed", first.text
    before = snapshot(db)
    again = api.post(url, json={"reason": "bad release"}, headers=headers)
    assert again.status_code == 200 and again.json() == first.json()
    assert snapshot(db) == before
    blind = api.post(url, json={"reason": "bad release"}, headers=auth("oncall"))
    assert blind.status_code == 409  # without a key a retry cannot tell its own change from another's
    with db.session() as session:
        assert session.scalar(select(func.count()).where(AuditEvent.action == "canary.manual_abort")) == 1
        assert session.scalar(select(func.count()).where(Decision.verdict == "abort")) == 1
