"""Evaluation requests, their job, online metrics and the offline-online pairs for correlation."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gatekeeper import changes
from gatekeeper.clock import utcnow
from gatekeeper.config import Settings
from gatekeeper.db import get_by_id
from gatekeeper.errors import Conflict, ValidationFailed
from gatekeeper.evaluation import cache
from gatekeeper.evaluation import evalset as evalsets
from gatekeeper.evaluation.models import Evaluation, OnlineMetric
from gatekeeper.evaluation.predictions import Predictions
from gatekeeper.evaluation.schemas import EvaluationCreate
from gatekeeper.evaluation.submitted import parse_submitted
from gatekeeper.jobs import queue
from gatekeeper.registry import audit
from gatekeeper.registry import service as registry
from gatekeeper.registry.artifacts import resolve_under_root
from gatekeeper.registry.models import Candidate, Decision
from gatekeeper.registry.states import Status

JOB_KIND = "evaluation"


def _checked_predictions(
    spec: EvaluationCreate, task: str, loaded: evalsets.EvalSet, root: Path
) -> Predictions:
    """Refuse a predictions file now (422 naming the line and field, or the missing ids), not minutes
    later in the worker. The file is read once: the bytes that are hashed are the bytes parsed."""
    if not spec.predictions_uri or not spec.predictions_sha256:
        raise ValidationFailed("predictions_uri and predictions_sha256 go together", field="predictions_uri")
    path = resolve_under_root(spec.predictions_uri, root)
    if not path.is_file():
        raise ValidationFailed(f"predictions file not found: {spec.predictions_uri}", field="predictions_uri")
    data = path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != spec.predictions_sha256:
        raise ValidationFailed(
            f"predictions_sha256 mismatch: expected {spec.predictions_sha256}, actual {actual}",
            field="predictions_sha256",
            expected=spec.predictions_sha256,
            actual=actual,
        )
    return parse_submitted(data, task=task, expected_ids=loaded.example_ids(), labels=loaded.labels)


def _cache_submitted(session: Session, sha: str, loaded: evalsets.EvalSet, preds: Predictions) -> None:
    """Cache the checked predictions per evalset file, in the request's transaction: the worker then
    reads neither the file nor JSON again (the cache is keyed by the file's sha256, as the worker's is)."""
    files = {(f.sha256, f.name): preds.subset(r["id"] for r in f.rows) for f in loaded.files.values()}
    cache.add_files(session, sha, files)


# Statuses a candidate may be (re-)evaluated from: a gate_inconclusive one comes back with more data.
EVALUABLE = (Status.REGISTERED.value, Status.GATE_PASSED.value, Status.GATE_INCONCLUSIVE.value)


def _evaluable(session: Session, candidate_id: str) -> Candidate:
    candidate = registry.get_candidate(session, candidate_id, lock=True)
    if candidate.status not in EVALUABLE:
        raise Conflict(
            f"candidate is {candidate.status}; only registered, gate_passed or gate_inconclusive "
            "candidates are evaluated",
            current_status=candidate.status,
        )
    return candidate


def _new_evaluation(
    session: Session, candidate: Candidate, spec: EvaluationCreate, actor: str, settings: Settings
) -> Evaluation:
    """Check the evalset (and any submitted predictions) now, then add the queued row."""
    policy = registry.policy_of(session, candidate.target)
    submitted = bool(spec.predictions_uri or spec.predictions_sha256)
    # Refuse a tampered or missing evalset now; the worker verifies again before it reads a byte.
    folder = evalsets.resolve_folder(policy.resolved_evalset_dir(), settings.evalset_root)
    loaded = evalsets.load(folder, roles=evalsets.EVAL_ROLES if submitted else ())
    if submitted:
        preds = _checked_predictions(spec, candidate.target.task, loaded, settings.artifact_root)
        _cache_submitted(session, spec.predictions_sha256 or "", loaded, preds)
    champion = registry.champion_of(session, candidate.target)
    evaluation = Evaluation(
        candidate_id=candidate.id,
        champion_id=champion.id if champion else None,
        status="queued",
        mode="predictions" if submitted else "artifact",
        predictions_uri=spec.predictions_uri,
        predictions_sha256=spec.predictions_sha256,
        policy_version=candidate.target.policy_version,
        evalset_dir=policy.resolved_evalset_dir(),
        requested_by=actor,
        progress={"stage": "queued"},
    )
    session.add(evaluation)
    session.flush()
    return evaluation


def request_evaluation(
    session: Session, *, candidate_id: str, spec: EvaluationCreate, actor: str, settings: Settings
) -> Evaluation:
    """Queue an evaluation: the candidate moves to ``evaluating`` in the same transaction."""
    candidate = _evaluable(session, candidate_id)
    evaluation = _new_evaluation(session, candidate, spec, actor, settings)
    registry.transition(
        session, candidate, Status.EVALUATING, actor=actor, details={"evaluation_id": str(evaluation.id)}
    )
    queue.enqueue(session, kind=JOB_KIND, ref_id=evaluation.id, now=utcnow())
    after = {
        "candidate_id": str(candidate.id),
        "mode": evaluation.mode,
        "champion_id": str(evaluation.champion_id) if evaluation.champion_id else None,
    }
    audit.record(session, actor, "evaluation.request", "evaluation", evaluation.id, after=after)
    return evaluation


def get_evaluation(session: Session, evaluation_id: str | uuid.UUID, *, lock: bool = False) -> Evaluation:
    return get_by_id(session, Evaluation, evaluation_id, what="evaluation", field="evaluation_id", lock=lock)


def changed(session: Session, evaluation_id: uuid.UUID) -> None:
    """Wake the requests long-polling this evaluation (``waits.py``) once this transaction commits."""
    changes.announce(session, changes.Change("evaluations", str(evaluation_id)))


def set_progress(session: Session, evaluation_id: uuid.UUID, record: dict[str, Any]) -> None:
    """Write an evaluation's progress in one statement (it is written a dozen times per evaluation)."""
    session.execute(update(Evaluation).where(Evaluation.id == evaluation_id).values(progress=record))
    changed(session, evaluation_id)


def evaluations_of(session: Session, candidate: Candidate) -> list[Evaluation]:
    return list(
        session.scalars(
            select(Evaluation)
            .where(Evaluation.candidate_id == candidate.id)
            .order_by(Evaluation.created_at.desc())
        )
    )


def recent(session: Session, *, target: str | None, status: str | None, limit: int) -> list[Evaluation]:
    stmt = select(Evaluation).order_by(Evaluation.created_at.desc()).limit(limit)
    if target:
        target_id = registry.get_target(session, target).id
        stmt = stmt.join(Candidate, Candidate.id == Evaluation.candidate_id).where(
            Candidate.target_id == target_id
        )
    if status:
        stmt = stmt.where(Evaluation.status == status)
    return list(session.scalars(stmt))


def latest_done(session: Session, candidate_id: uuid.UUID) -> Evaluation | None:
    return session.scalar(
        select(Evaluation)
        .where(Evaluation.candidate_id == candidate_id, Evaluation.status == "done")
        .order_by(Evaluation.finished_at.desc())
        .limit(1)
    )


def decision_of(session: Session, evaluation: Evaluation) -> Decision | None:
    return session.get(Decision, evaluation.decision_id) if evaluation.decision_id else None


def record_online_metric(
    session: Session, *, candidate_id: str, metric: str, value: float, window_days: int, actor: str
) -> OnlineMetric:
    """Record (or correct) a promoted model's online metric; it feeds offline-online correlation."""
    candidate = registry.get_candidate(session, candidate_id)
    promoted = session.scalar(
        select(Decision.id).where(Decision.candidate_id == candidate.id, Decision.verdict == "promote")
    )
    if promoted is None:
        raise Conflict(
            "online metrics are recorded for promoted models only; this candidate was never champion",
            current_status=candidate.status,
        )
    row = session.scalar(
        select(OnlineMetric)
        .where(OnlineMetric.candidate_id == candidate.id, OnlineMetric.metric == metric)
        .with_for_update()
    )
    before = {"value": row.value} if row else None
    if row is None:
        row = OnlineMetric(
            candidate_id=candidate.id, metric=metric, value=value, window_days=window_days, recorded_by=actor
        )
        session.add(row)
    else:
        row.value, row.window_days, row.recorded_by, row.recorded_at = value, window_days, actor, utcnow()
    session.flush()
    after = {"metric": metric, "value": value, "window_days": window_days}
    audit.record(
        session, actor, "online_metric.record", "candidate", candidate.id, before=before, after=after
    )
    return row


def offline_metric(evaluation: Evaluation | None, metric: str) -> float | None:
    if evaluation is None:
        return None
    value = ((evaluation.results or {}).get("golden") or {}).get("candidate", {}).get(metric)
    return float(value) if isinstance(value, int | float) else None


def correlation_pairs(
    session: Session, *, target_id: int, window: int, online_metric: str, primary_metric: str
) -> list[dict[str, Any]]:
    """(offline primary metric, online metric) for the last ``window`` promoted versions, oldest first."""
    promoted = session.execute(
        select(Candidate, Decision.created_at)
        .join(Decision, Decision.candidate_id == Candidate.id)
        .where(Candidate.target_id == target_id, Decision.verdict == "promote")
        .order_by(Decision.created_at.desc())
    ).all()
    pairs, seen = [], set()
    for candidate, promoted_at in promoted:
        if candidate.id in seen:
            continue
        seen.add(candidate.id)
        online = session.scalar(
            select(OnlineMetric.value).where(
                OnlineMetric.candidate_id == candidate.id, OnlineMetric.metric == online_metric
            )
        )
        offline = offline_metric(latest_done(session, candidate.id), primary_metric)
        if online is not None and offline is not None:
            pairs.append(
                {
                    "candidate_id": str(candidate.id),
                    "version": candidate.version,
                    "offline": offline,
                    "online": float(online),
                    "promoted_at": promoted_at.isoformat(),
                }
            )
        if len(pairs) == window:
            break
    return list(reversed(pairs))


def evalset_path(settings: Settings, evalset_dir: str) -> Path:
    return evalsets.resolve_folder(evalset_dir, settings.evalset_root)
