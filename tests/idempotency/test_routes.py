"""Retry-safe state changes on both engines: the same Idempotency-Key replays the first answer and
changes nothing more, another body under a used key is 422, and If-Match refuses a stale champion (412).
The case that matters: a blind retry of a rollback whose answer was lost must not roll back a second
version (v3 -> v2, never on to v1)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from gatekeeper.idempotency.models import IdempotentRequest
from gatekeeper.registry import service as registry
from gatekeeper.registry.models import Decision
from gatekeeper.registry.states import Status
from tests.conftest import snapshot
from tests.promotion.conftest import gate_pass

ROLLBACK = "/v1/targets/intent_classifier/rollback"


def three_champions(api, auth, register, db) -> list[dict[str, Any]]:  # noqa: ANN001
    """v1, v2, v3 champions in turn: v3 now, v1 and v2 retired (v2 the latest)."""
    models = [register() for _ in range(3)]
    for model in models:
        gate_pass(db, model["id"])
    promoted = api.post(
        f"/v1/candidates/{models[0]['id']}/promote", json={"reason": "first v1"}, headers=auth("admin")
    )
    assert promoted.status_code == 200, promoted.text
    for old, new in zip(models, models[1:], strict=False):
        with db.transaction() as session:
            registry.transition(
                session, registry.get_candidate(session, old["id"], lock=True), Status.RETIRED, actor="t"
            )
            registry.transition(
                session, registry.get_candidate(session, new["id"], lock=True), Status.CHAMPION, actor="t"
            )
    return models


def champion_version(api, auth) -> int:  # noqa: ANN001
    return api.get("/v1/targets/intent_classifier/champion", headers=auth("ci")).json()["version"]


def rollbacks(db) -> int:  # noqa: ANN001
    with db.session() as session:
        return session.scalar(select(func.count()).where(Decision.verdict == "rollback"))


def test_a_retried_rollback_replays_its_answer_and_rolls_back_once(api, auth, register, db) -> None:  # noqa: ANN001
    three_champions(api, auth, register, db)
    headers = {**auth("oncall"), "Idempotency-Key": "rb-incident-42"}
    first = api.post(ROLLBACK, json={"reason": "v3 misroutes"}, headers=headers)
    assert first.status_code == 200, first.text
    assert (first.json()["rolled_back"]["version"], first.json()["champion"]["version"]) == (3, 2)
    before = snapshot(db)
    again = api.post(ROLLBACK, json={"reason": "v3 misroutes"}, headers=headers)
    assert again.status_code == 200 and again.json() == first.json()
    assert snapshot(db) == before and champion_version(api, auth) == 2 and rollbacks(db) == 1
    other = api.post(ROLLBACK, json={"reason": "something else"}, headers=headers)
    assert other.status_code == 422 and other.json()["field"] == "Idempotency-Key"
    assert snapshot(db) == before


def test_if_match_refuses_a_rollback_of_a_champion_already_rolled_back(api, auth, register, db) -> None:  # noqa: ANN001
    models = three_champions(api, auth, register, db)
    first = api.post(ROLLBACK, json={"reason": "v3 bad"}, headers={**auth("oncall"), "If-Match": '"v3"'})
    assert first.status_code == 200, first.text
    before = snapshot(db)
    for expected in ('"v3"', models[2]["id"]):
        stale = api.post(
            ROLLBACK, json={"reason": "v3 bad"}, headers={**auth("oncall"), "If-Match": expected}
        )
        assert stale.status_code == 412, stale.text
        assert stale.json()["field"] == "If-Match" and stale.json()["current"] == models[1]["id"]
    assert snapshot(db) == before and champion_version(api, auth) == 2
    by_id = api.post(
        ROLLBACK, json={"reason": "v2 too bad"}, headers={**auth("oncall"), "If-Match": models[1]["id"]}
    )
    assert by_id.status_code == 200 and champion_version(api, auth) == 1


def test_a_refused_change_does_not_use_up_its_key(api, auth, register, db) -> None:  # noqa: ANN001
    first = register()
    gate_pass(db, first["id"])
    headers = {**auth("admin"), "Idempotency-Key": "promote-1"}
    refused = api.post(f"/v1/candidates/{first['id']}/promote", json={"reason": ""}, headers=headers)
    assert refused.status_code == 422
    promoted = api.post(f"/v1/candidates/{first['id']}/promote", json={"reason": "first v1"}, headers=headers)
    assert promoted.status_code == 200, promoted.text
    replay = api.post(f"/v1/candidates/{first['id']}/promote", json={"reason": "first v1"}, headers=headers)
    assert replay.status_code == 200 and replay.json() == promoted.json()
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(IdempotentRequest)) == 1


def test_keys_are_per_caller_and_checked_as_headers(api, auth, register, db, tokens) -> None:  # noqa: ANN001
    three_champions(api, auth, register, db)
    bad = api.post(ROLLBACK, json={"reason": "xxx"}, headers={**auth("oncall"), "Idempotency-Key": "a b"})
    assert bad.status_code == 422 and "Idempotency-Key" in bad.json()["detail"]
    key = {"Idempotency-Key": "shared"}
    assert api.post(ROLLBACK, json={"reason": "xxx"}, headers={**auth("oncall"), **key}).status_code == 200
    second = api.post(ROLLBACK, json={"reason": "xxx"}, headers={**auth("admin"), **key})
    assert second.status_code == 200 and second.json()["champion"]["version"] == 1  # admin's own key
