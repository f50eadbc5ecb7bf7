"""What must hold after any kill -9 and restart, read from the database and the webhook receiver."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gatekeeper.canary.models import Canary
from gatekeeper.canary.routing import routing
from gatekeeper.db import Database
from gatekeeper.evaluation.models import Evaluation
from gatekeeper.jobs.models import Job
from gatekeeper.notify.models import OutboxMessage
from gatekeeper.notify.receiver import LocalReceiver
from gatekeeper.registry import service as registry
from gatekeeper.registry.models import AuditEvent, Candidate, Decision
from gatekeeper.registry.states import Status

# A canary's state and the status its candidate must then have.
CANDIDATE_OF = {
    "running": {Status.CANARY.value},
    "aborted": {Status.ABORTED.value},
    "failed": {Status.FAILED_PROMOTION.value},
    "baking": {Status.CHAMPION.value},
    "passed": {Status.CHAMPION.value, Status.RETIRED.value, Status.FAILED_PROMOTION.value},
}


# A target with a candidate in one of these statuses has had a champion, and must have one now.
PROMOTED = tuple(
    s.value
    for s in (
        Status.CHAMPION,
        Status.RETIRED,
        Status.FAILED_PROMOTION,
        Status.SHADOW,
        Status.CANARY,
        Status.ABORTED,
    )
)


def _count(session: Session, model: type, *where: object) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def _audits(session: Session, entity_id: object, action: str) -> int:
    return _count(session, AuditEvent, AuditEvent.entity_id == str(entity_id), AuditEvent.action == action)


def one_champion_and_routes_agree(session: Session) -> None:
    """Exactly one champion per target; routing sums to 1 and gives each canary its stage's share."""
    for target in registry.list_targets(session):
        champions = _count(
            session, Candidate, Candidate.target_id == target.id, Candidate.status == Status.CHAMPION.value
        )
        promoted = _count(
            session, Candidate, Candidate.target_id == target.id, Candidate.status.in_(PROMOTED)
        )
        assert champions == (1 if promoted else 0), f"{target.name}: {champions} champions"
        routes = routing(session, target.name).routes
        assert sum(r.weight for r in routes) == pytest.approx(1.0 if promoted else 0.0), (target.name, routes)
        running = session.scalars(
            select(Canary).where(Canary.target_id == target.id, Canary.state == "running")
        ).all()
        shares = {c.candidate_id: float(c.plan[c.stage]["share"]) for c in running}
        assert {r.candidate_id: r.weight for r in routes if r.role == "canary"} == shares, target.name


def canaries_fully_changed(session: Session) -> None:
    """Each canary's state, its candidate's status, its decisions and its audit rows agree: a change is
    all there or not at all, and no canary was judged twice for the same period."""
    for canary in session.scalars(select(Canary)):
        candidate = session.get(Candidate, canary.candidate_id)
        assert candidate is not None and candidate.status in CANDIDATE_OF[canary.state], (
            canary.id,
            canary.state,
            candidate.status if candidate else None,
        )
        auto_aborts = _audits(session, canary.id, "canary.abort")
        abort_decisions = _count(
            session,
            Decision,
            Decision.candidate_id == candidate.id,
            Decision.verdict == "abort",
            Decision.actor.like("canary-daemon:%"),
        )
        reenables = _count(
            session, Decision, Decision.candidate_id == candidate.id, Decision.verdict == "reenable"
        )
        assert auto_aborts == abort_decisions, (canary.id, auto_aborts, abort_decisions)
        assert abort_decisions == reenables + (canary.state == "aborted"), (
            canary.id,
            abort_decisions,
            reenables,
        )
        assert reenables == canary.reenables, (canary.id, reenables, canary.reenables)
        stages = _audits(session, canary.id, "canary.stage")
        assert stages == canary.stage, (canary.id, "stage audits", stages, canary.stage)
        promoted = _count(
            session, Decision, Decision.candidate_id == candidate.id, Decision.verdict == "promote"
        )
        assert promoted == (canary.promoted_at is not None), (canary.id, promoted)


def transitions_audited(session: Session) -> None:
    """Every candidate's last status change has its audit row, naming that status."""
    for candidate in session.scalars(select(Candidate)):
        last = session.scalar(
            select(AuditEvent)
            .where(AuditEvent.entity_id == str(candidate.id), AuditEvent.action == "candidate.transition")
            .order_by(AuditEvent.id.desc())
            .limit(1)
        )
        if candidate.status != Status.REGISTERED.value:
            assert last is not None and last.after["status"] == candidate.status, (
                candidate.id,
                candidate.status,
            )


def evaluations_whole(session: Session) -> None:
    """No half-written evaluation: a finished one has its results and one decision; its job ran to an end."""
    for evaluation in session.scalars(select(Evaluation)):
        decisions = _count(
            session,
            Decision,
            Decision.candidate_id == evaluation.candidate_id,
            Decision.stage == "offline",
        )
        job = session.scalar(select(Job).where(Job.ref_id == str(evaluation.id)))
        if evaluation.status == "done":
            assert evaluation.results and evaluation.decision_id is not None, evaluation.id
            assert decisions == 1 and job is not None and job.status == "succeeded", (
                evaluation.id,
                decisions,
            )
        else:
            assert evaluation.decision_id is None and decisions == 0, (evaluation.id, evaluation.status)


def delivered_once(session: Session, receiver: LocalReceiver) -> None:
    """Every page and Slack message delivered, each accepted exactly once by the receiver (by its key),
    and one PagerDuty page and one Slack message per automatic abort."""
    messages = session.scalars(select(OutboxMessage)).all()
    assert all(m.status == "delivered" for m in messages), Counter(m.status for m in messages)
    keys = {m.idempotency_key for m in messages}
    assert set(receiver.seen) == keys and len(receiver.bodies) == len(keys), (len(receiver.bodies), len(keys))
    aborts = _count(session, Decision, Decision.verdict == "abort", Decision.actor.like("canary-daemon:%"))
    by_channel = Counter(m.channel for m in messages)
    assert by_channel["pagerduty"] == aborts, (by_channel, aborts)


def check(db: Database, receiver: LocalReceiver) -> None:
    with db.session() as session:
        one_champion_and_routes_agree(session)
        canaries_fully_changed(session)
        transitions_audited(session)
        evaluations_whole(session)
        delivered_once(session, receiver)


def all_delivered(db: Database) -> bool:
    with db.session() as session:
        return _count(session, OutboxMessage, OutboxMessage.status != "delivered") == 0
