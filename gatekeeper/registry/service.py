"""Registry operations. Each public function runs inside the caller's transaction and leaves an
audit row beside every change, so a refused request leaves the database exactly as it was."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from gatekeeper import changes
from gatekeeper.artifacts.store import local_copy
from gatekeeper.clock import utcnow
from gatekeeper.config import Settings
from gatekeeper.db import get_by_id
from gatekeeper.errors import Conflict, NotFound, ValidationFailed
from gatekeeper.idempotency import service as idempotency
from gatekeeper.policy.schema import Policy, parse_policy
from gatekeeper.registry import audit
from gatekeeper.registry.artifacts import artifact_sha256, expect_sha256, pickled_files
from gatekeeper.registry.lineage import missing_tags, normalise_tags
from gatekeeper.registry.models import Candidate, Decision, PolicyVersion, Target, TrainingRun
from gatekeeper.registry.schemas import CandidateCreate, TargetCreate
from gatekeeper.registry.states import EXCLUDED_FROM_LATEST, Status, changes_routing, check_transition

# --- targets and policies -------------------------------------------------------------------


def get_target(session: Session, name: str, *, lock: bool = False) -> Target:
    stmt = select(Target).where(Target.name == name)
    if lock:
        stmt = stmt.with_for_update()
    target = session.scalar(stmt)
    if target is None:
        raise NotFound(f"unknown target {name!r}", field="target")
    return target


def list_targets(session: Session) -> list[Target]:
    return list(session.scalars(select(Target).order_by(Target.name)))


def _checked_policy(name: str, task: str, text: str) -> Policy:
    policy = parse_policy(text)
    if policy.target != name:
        raise ValidationFailed(
            f"policy.target is {policy.target!r} but the target is {name!r}", field="policy.target"
        )
    if policy.task != task:
        raise ValidationFailed(
            f"policy.task is {policy.task!r} but the target's task is {task!r}", field="policy.task"
        )
    return policy


def _pin_policy(
    session: Session, target: Target, text: str, policy: Policy, version: int, actor: str
) -> None:
    session.add(
        PolicyVersion(
            target_id=target.id,
            version=version,
            yaml=text,
            body=policy.model_dump(mode="json"),
            sha256=hashlib.sha256(text.encode()).hexdigest(),
            created_by=actor,
        )
    )
    target.policy_version = version
    target.always_extended_canary = policy.always_extended_canary


def create_target(session: Session, *, spec: TargetCreate, actor: str) -> Target:
    """Create a target with its policy pinned as version 1."""
    policy = _checked_policy(spec.name, spec.task, spec.policy)
    if session.scalar(select(Target.id).where(Target.name == spec.name)) is not None:
        raise Conflict(f"target {spec.name!r} already exists", field="name")
    target = Target(
        name=spec.name, task=spec.task, rollback_sla_seconds=spec.rollback_sla_seconds, created_by=actor
    )
    session.add(target)
    session.flush()
    _pin_policy(session, target, spec.policy, policy, 1, actor)
    after = {"task": spec.task, "policy_version": 1}
    audit.record(session, actor, "target.create", "target", spec.name, after=after)
    return target


def update_policy(session: Session, *, target_name: str, text: str, actor: str) -> Target:
    """Pin a new policy version; earlier evaluations keep pointing at the version they used."""
    target = get_target(session, target_name, lock=True)
    policy = _checked_policy(target.name, target.task, text)
    before = target.policy_version
    _pin_policy(session, target, text, policy, before + 1, actor)
    before_state = {"policy_version": before}
    after = {"policy_version": before + 1}
    audit.record(
        session, actor, "target.policy_update", "target", target.name, before=before_state, after=after
    )
    return target


def policy_of(session: Session, target: Target, version: int | None = None) -> Policy:
    row = session.scalar(
        select(PolicyVersion).where(
            PolicyVersion.target_id == target.id, PolicyVersion.version == (version or target.policy_version)
        )
    )
    if row is None:
        raise NotFound(f"target {target.name!r} has no policy version {version}")
    return Policy.model_validate(row.body)


# --- candidates -------------------------------------------------------------------------------


def _checked_tags(tags: Mapping[str, Any], target: str | None, *, missing: str, owner: str) -> dict[str, str]:
    """All six lineage tags, normalised, naming this target: one rule for candidates and runs."""
    absent = missing_tags(tags)
    if absent:
        raise ValidationFailed(f"{missing} {', '.join(absent)}", missing_tags=absent)
    clean = normalise_tags(tags)
    if target is not None and clean["model_target"] != target:
        raise ValidationFailed(
            f"tag model_target is {clean['model_target']!r} but {owner} {target!r}",
            field="tags.model_target",
        )
    return clean


def run_lineage(tags: Mapping[str, Any], target: str | None = None) -> dict[str, str]:
    """A training run's lineage tags, normalised: all six, or the run is refused ("no anonymous runs")."""
    return _checked_tags(
        tags, target, missing="no anonymous runs: missing lineage tags", owner="the run is for"
    )


def _add_audited(
    session: Session, row: Any, *, actor: str, action: str, entity_type: str, after: dict[str, Any]
) -> None:
    """Add a new row and its audit event in the caller's transaction (flushed first, for its id)."""
    session.add(row)
    session.flush()
    audit.record(session, actor=actor, action=action, entity_type=entity_type, entity_id=row.id, after=after)


def check_artifact(uri: str, expected_sha: str, settings: Settings) -> Path:
    """Confine (or fetch), refuse pickles and verify the sha256 before anything is recorded."""
    path = local_copy(uri, expected_sha, settings, fresh=True)
    if not path.exists():
        raise ValidationFailed(f"artifact not found under the artifact root: {uri}", field="artifact_uri")
    pickles = pickled_files(path)
    if pickles:
        raise ValidationFailed(
            f"pickled weights are refused (safetensors only): {', '.join(pickles[:5])}",
            field="artifact_uri",
            pickled_files=pickles,
        )
    expect_sha256(artifact_sha256(path), expected_sha)
    return path


def register_candidate(
    session: Session, *, spec: CandidateCreate, actor: str, settings: Settings
) -> tuple[Candidate, bool]:
    """Register a candidate, or return the existing one for the same artifact (``created=False``)."""
    tags = _checked_tags(
        spec.tags, spec.target, missing="missing or empty lineage tags:", owner="the candidate is for target"
    )
    check_artifact(spec.artifact_uri, spec.artifact_sha256, settings)  # before any lock is held
    target = get_target(session, spec.target, lock=True)  # serialises version assignment per target
    existing = session.scalar(
        select(Candidate).where(
            Candidate.target_id == target.id, Candidate.artifact_sha256 == spec.artifact_sha256
        )
    )
    if existing is not None:
        return existing, False
    _check_run_of(session, target, spec.training_run_id)
    return _new_candidate(session, target, spec, tags, actor), True


def _check_run_of(session: Session, target: Target, run_id: uuid.UUID | None) -> None:
    """A candidate's training run, when named, exists and belongs to the same target."""
    if run_id is None:
        return
    run = session.get(TrainingRun, run_id)
    if run is None or run.target_id != target.id:
        raise ValidationFailed(
            f"training run {run_id} not found for target {target.name}", field="training_run_id"
        )


def _new_candidate(
    session: Session, target: Target, spec: CandidateCreate, tags: dict[str, str], actor: str
) -> Candidate:
    """The next version of the target, registered and audited."""
    candidate = Candidate(
        target=target,  # the loaded row, so reading candidate.target needs no query
        version=target.next_version,
        artifact_uri=spec.artifact_uri,
        artifact_sha256=spec.artifact_sha256,
        training_run_id=spec.training_run_id,
        submitter=actor,
        meta=spec.metadata,
        status=Status.REGISTERED.value,
        **tags,
    )
    target.next_version += 1
    after = {
        "target": target.name,
        "version": candidate.version,
        "artifact_sha256": candidate.artifact_sha256,
    }
    _add_audited(
        session,
        candidate,
        actor=actor,
        action="candidate.register",
        entity_type="candidate",
        after={**after, **tags},
    )
    return candidate


def get_candidate(session: Session, candidate_id: uuid.UUID | str, *, lock: bool = False) -> Candidate:
    return get_by_id(session, Candidate, candidate_id, what="candidate", field="candidate_id", lock=lock)


def _encode_cursor(created_at: datetime, ident: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(json.dumps([created_at.isoformat(), str(ident)]).encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        stamp, ident = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return datetime.fromisoformat(stamp), uuid.UUID(ident)
    except (ValueError, TypeError, json.JSONDecodeError):
        raise ValidationFailed("malformed cursor", field="cursor") from None


def list_candidates(
    session: Session,
    *,
    target: str | None = None,
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Candidate], str | None]:
    """Newest first, keyset-paginated on (created_at, id) so pages never skip or repeat."""
    stmt = select(Candidate).order_by(Candidate.created_at.desc(), Candidate.id.desc()).limit(limit + 1)
    if target:
        stmt = stmt.where(Candidate.target_id == get_target(session, target).id)
    if status:
        try:
            stmt = stmt.where(Candidate.status == Status(status).value)
        except ValueError:
            raise ValidationFailed(f"unknown status {status!r}", field="status") from None
    if cursor:
        at, ident = _decode_cursor(cursor)
        stmt = stmt.where(
            or_(Candidate.created_at < at, and_(Candidate.created_at == at, Candidate.id < ident))
        )
    rows = list(session.scalars(stmt))
    page, more = rows[:limit], len(rows) > limit
    return page, (_encode_cursor(page[-1].created_at, page[-1].id) if more and page else None)


def latest(session: Session, target_name: str) -> Candidate:
    target = get_target(session, target_name)
    candidate = session.scalar(
        select(Candidate)
        .where(
            Candidate.target_id == target.id, Candidate.status.not_in([s.value for s in EXCLUDED_FROM_LATEST])
        )
        .order_by(Candidate.version.desc())
        .limit(1)
    )
    if candidate is None:
        raise NotFound(f"target {target_name!r} has no candidate in the running", field="target")
    return candidate


def champion_of(session: Session, target: Target) -> Candidate | None:
    return session.scalar(
        select(Candidate).where(Candidate.target_id == target.id, Candidate.status == Status.CHAMPION.value)
    )


def champion(session: Session, target_name: str) -> Candidate:
    current = champion_of(session, get_target(session, target_name))
    if current is None:
        raise NotFound(f"target {target_name!r} has no champion yet", field="target")
    return current


# --- state changes ----------------------------------------------------------------------------


def bump_routing(session: Session, target_id: int) -> None:
    """A new routing generation, announced to the routing caches once the transaction commits."""
    name, generation = session.execute(
        update(Target)
        .where(Target.id == target_id)
        .values(routing_generation=Target.routing_generation + 1)
        .returning(Target.name, Target.routing_generation)
    ).one()
    changes.announce(session, changes.Change("routing", name, generation))


def transition(
    session: Session,
    candidate: Candidate,
    to: Status,
    *,
    actor: str,
    note: str | None = None,
    details: dict[str, Any] | None = None,
) -> Candidate:
    """Move a (locked) candidate to a new status, with its audit row and routing generation."""
    before = candidate.status
    check_transition(before, to.value)
    candidate.status = to.value
    candidate.status_changed_at = utcnow()
    if changes_routing(before, to.value):
        bump_routing(session, candidate.target_id)
    session.flush()
    before_state = {"status": before}
    after = {"status": to.value, **(details or {})}
    audit.record(
        session,
        actor,
        "candidate.transition",
        "candidate",
        candidate.id,
        before=before_state,
        after=after,
        note=note,
    )
    return candidate


def record_decision(
    session: Session,
    *,
    candidate: Candidate,
    stage: str,
    verdict: str,
    actor: str,
    reasons: list[dict[str, Any]] | None = None,
    details: dict[str, Any] | None = None,
) -> Decision:
    decision = Decision(
        candidate_id=candidate.id,
        stage=stage,
        verdict=verdict,
        reasons=reasons or [],
        details=details or {},
        actor=actor,
    )
    session.add(decision)
    session.flush()
    after = {"decision_id": str(decision.id), "stage": stage, "verdict": verdict}
    audit.record(session, actor, f"decision.{verdict}", "candidate", candidate.id, after=after)
    return decision


def promote_first(
    session: Session,
    *,
    candidate_id: uuid.UUID | str,
    reason: str,
    actor: str,
) -> Candidate:
    """Make a target's first champion: only a gate-passed candidate, only while there is none.

    The caller pins the new champion's drift reference (``drift.references.on_promoted``): drift
    reads the registry, never the other way round.
    """
    candidate = get_candidate(session, candidate_id)
    target = get_target(session, candidate.target.name, lock=True)
    candidate = get_candidate(session, candidate.id, lock=True)
    current = champion_of(session, target)
    if current is not None:
        raise Conflict(
            f"target {target.name} already has champion v{current.version}; later models "
            "earn production through shadow and canary",
            champion_id=str(current.id),
        )
    transition(session, candidate, Status.CHAMPION, actor=actor, note=reason)
    record_decision(
        session,
        candidate=candidate,
        stage="full",
        verdict="promote",
        actor=actor,
        reasons=[{"check": "first_champion", "note": reason}],
    )
    return candidate


def previous_champion(session: Session, target: Target) -> Candidate | None:
    return session.scalar(
        select(Candidate)
        .where(Candidate.target_id == target.id, Candidate.status == Status.RETIRED.value)
        .order_by(Candidate.status_changed_at.desc(), Candidate.version.desc())
        .limit(1)
    )


def rollback_timing(seconds: float, sla_seconds: int, *, measured_from: str) -> tuple[dict[str, Any], list]:
    """The measured rollback time against the target's SLA; over the SLA it stands out as a soft reason."""
    within = seconds <= sla_seconds
    details = {
        "seconds": round(seconds, 6),
        "sla_seconds": sla_seconds,
        "within_sla": within,
        "measured_from": measured_from,
    }
    message = f"rollback took {seconds:.1f} s, over the target's {sla_seconds} s rollback SLA"
    return details, ([] if within else [failed_check("rollback_sla", "rollback_seconds", message, "soft")])


def failed_check(check: str, metric: str, message: str, severity: str = "hard") -> dict[str, Any]:
    """A failed check as a decision's reason: the keys the gate's reasons have, in the same order."""
    return {"check": check, "metric": metric, "severity": severity, "passed": False, "message": message}


def restore(session: Session, *, current: Candidate, previous: Candidate, reason: str, actor: str) -> None:
    """Champion -> failed_promotion and a retired champion back (both locked by the caller)."""
    transition(session, current, Status.FAILED_PROMOTION, actor=actor, note=reason)
    transition(session, previous, Status.CHAMPION, actor=actor, note=reason)


def _rollback_pair(session: Session, target: Target, if_match: str | None) -> tuple[Candidate, Candidate]:
    """The champion (the one ``If-Match`` names, when given) and the previous one, both locked."""
    current = champion_of(session, target)
    idempotency.expect(
        "champion",
        if_match,
        current=str(current.id) if current else None,
        aliases=(f"v{current.version}",) if current else (),
    )
    if current is None:
        raise Conflict(f"target {target.name} has no champion to roll back")
    previous = previous_champion(session, target)
    if previous is None:
        raise Conflict(
            f"target {target.name} has no previous champion to roll back to", champion_id=str(current.id)
        )
    return get_candidate(session, current.id, lock=True), get_candidate(session, previous.id, lock=True)


def rollback(
    session: Session,
    *,
    target_name: str,
    if_match: str | None = None,
    reason: str,
    actor: str,
) -> tuple[Candidate, Candidate]:
    """Champion -> failed_promotion and the previous champion back, in one transaction, timed against the
    target's rollback SLA from this call. ``if_match`` names the champion the caller means to roll back
    (id or ``v<version>``): 412 otherwise."""
    began = time.perf_counter()
    target = get_target(session, target_name, lock=True)
    current, previous = _rollback_pair(session, target, if_match)
    restore(session, current=current, previous=previous, reason=reason, actor=actor)
    timing, late = rollback_timing(
        time.perf_counter() - began, target.rollback_sla_seconds, measured_from="request"
    )
    record_decision(
        session,
        candidate=current,
        stage="full",
        verdict="rollback",
        actor=actor,
        reasons=[{"check": "manual_rollback", "note": reason}, *late],
        details={
            "restored_candidate_id": str(previous.id),
            "restored_version": previous.version,
            "rollback": timing,
        },
    )
    return current, previous


def decisions_of(session: Session, candidate: Candidate) -> list[Decision]:
    return list(
        session.scalars(
            select(Decision).where(Decision.candidate_id == candidate.id).order_by(Decision.created_at)
        )
    )


# --- training runs ----------------------------------------------------------------------------


def record_training_run(
    session: Session,
    *,
    target_name: str,
    trainer: str,
    tags: dict[str, Any],
    actor: str,
    status: str = "succeeded",
    params: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    output_uri: str | None = None,
    output_sha256: str | None = None,
    log_path: str | None = None,
    started_at: datetime | None = None,
    finished_at: datetime | None = None,
) -> TrainingRun:
    """Record a run; a run without all six lineage tags is refused ("no anonymous runs")."""
    clean = run_lineage(tags, target_name)
    target = get_target(session, target_name)
    run = TrainingRun(
        target_id=target.id,
        trainer=trainer,
        status=status,
        tags=clean,
        params=params or {},
        metrics=metrics or {},
        output_uri=output_uri,
        output_sha256=output_sha256,
        log_path=log_path,
        created_by=actor,
        started_at=started_at,
        finished_at=finished_at,
    )
    after = {"target": target_name, "trainer": trainer, "status": status}
    _add_audited(
        session, run, actor=actor, action="training_run.record", entity_type="training_run", after=after
    )
    return run


def get_training_run(session: Session, run_id: uuid.UUID | str, *, lock: bool = False) -> TrainingRun:
    return get_by_id(session, TrainingRun, run_id, what="training run", field="training_run_id", lock=lock)


def list_training_runs(
    session: Session,
    *,
    target: str | None = None,
    status: str | None = None,
    trainer: str | None = None,
    limit: int = 100,
) -> list[TrainingRun]:
    stmt = select(TrainingRun).order_by(TrainingRun.created_at.desc()).limit(limit)
    if target:
        stmt = stmt.where(TrainingRun.target_id == get_target(session, target).id)
    if status:
        stmt = stmt.where(TrainingRun.status == status)
    if trainer:
        stmt = stmt.where(TrainingRun.trainer == trainer)
    return list(session.scalars(stmt))


def candidates_of_runs(session: Session, run_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
    """The candidates registered from each training run."""
    out: dict[uuid.UUID, list[uuid.UUID]] = {}
    if run_ids:
        for run_id, cid in session.execute(
            select(Candidate.training_run_id, Candidate.id).where(Candidate.training_run_id.in_(run_ids))
        ):
            out.setdefault(run_id, []).append(cid)
    return out
