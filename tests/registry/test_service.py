"""Registry service: transitions under lock with audit, one champion, rollback, latest."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from gatekeeper.errors import Conflict, InvalidTransition
from gatekeeper.registry import service as registry
from gatekeeper.registry.models import AuditEvent, Candidate
from gatekeeper.registry.states import Status


def walk(db, candidate_id, *statuses: Status, actor: str = "test") -> None:  # noqa: ANN001
    """Drive a candidate through statuses, one transaction each, as the services do."""
    for status in statuses:
        with db.transaction() as session:
            registry.transition(
                session, registry.get_candidate(session, candidate_id, lock=True), status, actor=actor
            )


def champion_ids(db) -> list[str]:  # noqa: ANN001
    with db.session() as session:
        return [str(c.id) for c in session.scalars(select(Candidate).where(Candidate.status == "champion"))]


def test_every_transition_is_audited_with_before_and_after(db, register) -> None:
    cid = register()["id"]
    walk(db, cid, Status.EVALUATING, Status.GATE_PASSED)
    with db.session() as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.entity_id == cid).order_by(AuditEvent.id)
        ).all()
    transitions = [(e.before, e.after) for e in events if e.action == "candidate.transition"]
    assert transitions == [
        ({"status": "registered"}, {"status": "evaluating"}),
        ({"status": "evaluating"}, {"status": "gate_passed"}),
    ]


def test_invalid_transition_leaves_state_and_log_untouched(db, register) -> None:
    cid = register()["id"]
    with pytest.raises(InvalidTransition) as info, db.transaction() as session:
        registry.transition(
            session, registry.get_candidate(session, cid, lock=True), Status.CHAMPION, actor="t"
        )
    assert info.value.fields["current_status"] == "registered"
    with db.session() as session:
        assert registry.get_candidate(session, cid).status == "registered"
        assert session.scalar(select(AuditEvent).where(AuditEvent.action == "candidate.transition")) is None


def test_first_champion_then_second_promotion_is_refused(db, register) -> None:
    a, b = register()["id"], register()["id"]
    walk(db, a, Status.EVALUATING, Status.GATE_PASSED)
    walk(db, b, Status.EVALUATING, Status.GATE_PASSED)
    with db.transaction() as session:
        registry.promote_first(session, candidate_id=a, reason="first model of the target", actor="admin")
    with pytest.raises(Conflict, match="already has champion v1"), db.transaction() as session:
        registry.promote_first(session, candidate_id=b, reason="sneaky second", actor="admin")
    assert champion_ids(db) == [a]


def test_database_refuses_a_second_champion(db, register) -> None:
    """Even bypassing the service, the partial unique index keeps one champion per target."""
    a, b = (uuid.UUID(register()["id"]) for _ in range(2))
    with db.transaction() as session:
        session.get(Candidate, a).status = "champion"
    with pytest.raises(IntegrityError), db.transaction() as session:
        session.get(Candidate, b).status = "champion"
    assert champion_ids(db) == [str(a)]


def promote_chain(db, register, n: int) -> list[str]:  # noqa: ANN001
    """v1 first champion, then each next version through shadow and canary to champion."""
    ids = [register()["id"] for _ in range(n)]
    walk(db, ids[0], Status.EVALUATING, Status.GATE_PASSED)
    with db.transaction() as session:
        registry.promote_first(session, candidate_id=ids[0], reason="first", actor="admin")
    for prev, cid in zip(ids, ids[1:], strict=False):
        walk(db, cid, Status.EVALUATING, Status.GATE_PASSED, Status.SHADOW, Status.CANARY)
        with db.transaction() as session:
            registry.transition(
                session, registry.get_candidate(session, prev, lock=True), Status.RETIRED, actor="t"
            )
            registry.transition(
                session, registry.get_candidate(session, cid, lock=True), Status.CHAMPION, actor="t"
            )
    return ids


def test_rollback_restores_the_previous_champion(db, register) -> None:
    v1, v2, v3 = promote_chain(db, register, 3)
    with db.transaction() as session:
        failed, restored = registry.rollback(
            session, target_name="intent_classifier", reason="bad", actor="oncall"
        )
        assert (str(failed.id), str(restored.id)) == (v3, v2)
    assert champion_ids(db) == [v2]
    with db.session() as session:
        assert registry.get_candidate(session, v3).status == "failed_promotion"
        assert registry.latest(session, "intent_classifier").id.hex == v2.replace("-", "")
        verdicts = [d.verdict for d in registry.decisions_of(session, registry.get_candidate(session, v3))]
    assert verdicts == ["rollback"]
    with db.transaction() as session:
        registry.rollback(session, target_name="intent_classifier", reason="again", actor="oncall")
    assert champion_ids(db) == [v1]
    with pytest.raises(Conflict, match="no previous champion"), db.transaction() as session:
        registry.rollback(session, target_name="intent_classifier", reason="no more", actor="oncall")
    assert champion_ids(db) == [v1]


def test_latest_skips_failed_candidates(db, register) -> None:
    good, bad = register()["id"], register()["id"]
    walk(db, bad, Status.EVALUATING, Status.GATE_FAILED)
    with db.session() as session:
        assert str(registry.latest(session, "intent_classifier").id) == good


def test_audit_log_is_append_only_in_the_database(db, register) -> None:
    register()
    with pytest.raises(Exception, match="append-only"), db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET actor = 'mallory'"))
    with pytest.raises(Exception, match="append-only"), db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events"))
    with db.session() as session:
        assert "mallory" not in set(session.scalars(select(AuditEvent.actor)))
