"""Drift references: pin a champion's reference (profile, class metrics, thresholds) and read it back.

The comparisons with a reference live in ``gatekeeper.drift.reference``; this module stores them.
Every function runs in the caller's transaction.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

import pandas as pd
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gatekeeper.clock import utcnow
from gatekeeper.config import Settings
from gatekeeper.drift import reference as refs
from gatekeeper.drift.models import (
    DriftReference,
)
from gatekeeper.drift.stats import ReferenceProfile
from gatekeeper.drift.sustain import SustainRule, rules_from_policy
from gatekeeper.errors import Conflict, GatekeeperError, ValidationFailed
from gatekeeper.evaluation import cache
from gatekeeper.evaluation import evalset as evalsets
from gatekeeper.evaluation import service as evaluations
from gatekeeper.evaluation.predictions import Predictions
from gatekeeper.policy.schema import DriftPolicy, Policy
from gatekeeper.registry import audit
from gatekeeper.registry import service as registry
from gatekeeper.registry.models import Candidate, Target

log = logging.getLogger("gatekeeper.drift")
SAFETY_DEFAULT = ("return_request", "escalation")  # seed 002 section 6.3's safety-critical slices


def pinned_thresholds(policy: Policy, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The policy's drift section plus the safety-critical classes triage watches, as pinned values."""
    try:
        drift = DriftPolicy.model_validate({**policy.drift.model_dump(), **(overrides or {})})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValidationFailed(f"drift.{where}: {first['msg']}", field=f"drift.{where}") from None
    return {
        **drift.model_dump(mode="json"),
        "safety_classes": list(policy.slices.safety_critical.get("intent") or SAFETY_DEFAULT),
        "safety_min_support": policy.slices.min_support,
    }


def store_reference(
    session: Session,
    *,
    candidate: Candidate,
    frame: pd.DataFrame,
    source: dict[str, Any],
    actor: str,
    now: datetime | None = None,
    overrides: dict[str, Any] | None = None,
) -> DriftReference:
    """Pin a reference built from ``frame`` to the candidate, with the target's drift thresholds now.

    ``overrides`` replaces drift thresholds (validated like the policy's) for synthetic references.
    """
    if frame.empty:
        raise ValidationFailed("the reference has no rows", field="reference")
    target = candidate.target
    profile = refs.build_profile(frame)
    last = session.scalar(
        select(func.max(DriftReference.version)).where(DriftReference.target_id == target.id)
    )
    ref = DriftReference(
        target_id=target.id,
        candidate_id=candidate.id,
        version=(last or 0) + 1,
        policy_version=target.policy_version,
        thresholds=pinned_thresholds(registry.policy_of(session, target), overrides),
        profile=profile.to_dict(),
        class_metrics=refs.reference_metrics(frame, profile),
        sample=refs.sample(frame),
        source=source,
        created_at=now or utcnow(),
        created_by=actor,
    )
    session.add(ref)
    session.flush()
    _audit_reference(session, ref, profile, actor)
    return ref


def _audit_reference(session: Session, ref: DriftReference, profile: ReferenceProfile, actor: str) -> None:
    """The new reference on the candidate's audit trail."""
    after = {
        "reference_id": ref.id,
        "version": ref.version,
        "policy_version": ref.policy_version,
        "rows": profile.n,
        "reference_f1": profile.reference_f1,
        "source": ref.source,
    }
    audit.record(session, actor, "drift.reference.create", "candidate", ref.candidate_id, after=after)


def latest_reference(session: Session, candidate_id: uuid.UUID) -> DriftReference | None:
    return session.scalar(
        select(DriftReference)
        .where(DriftReference.candidate_id == candidate_id)
        .order_by(DriftReference.version.desc())
        .limit(1)
    )


def current_reference(session: Session, target: Target) -> DriftReference | None:
    """The reference of the target's champion now (after a rollback: the restored champion's)."""
    champion = registry.champion_of(session, target)
    return latest_reference(session, champion.id) if champion is not None else None


def _champion_predictions(
    session: Session, candidate: Candidate, file_sha: str
) -> tuple[str | None, Predictions]:
    """The champion's cached predictions on the holdout: submitted ones first, then its artifact's."""
    last = evaluations.latest_done(session, candidate.id)
    sources = [last.predictions_sha256] if last is not None and last.mode == "predictions" else []
    for sha in [*sources, candidate.artifact_sha256]:
        found = cache.lookup(session, sha, file_sha)
        if found is not None:
            return sha, found
    raise Conflict(
        f"no cached predictions of {candidate.target.name} v{candidate.version} on the holdout file "
        f"{file_sha[:12]}…; evaluate it first",
        field="candidate_id",
    )


def _holdout_rows(
    candidate: Candidate, rows: list[dict[str, Any]], preds: Predictions | None
) -> list[dict[str, Any]]:
    if preds is None:
        return rows
    return [
        {**row, "prediction": preds.get(row["id"]), "confidence": preds.conf(row["id"])}
        for row in rows
        if row["id"] in preds
    ]


def build_reference_for(
    session: Session,
    *,
    candidate: Candidate,
    settings: Settings,
    actor: str = "system",
    now: datetime | None = None,
) -> DriftReference:
    """The champion's reference from its evalset holdout and its cached predictions on it.

    Idempotent: the same holdout, predictions and policy version return the existing reference.
    """
    target = candidate.target
    policy = registry.policy_of(session, target)
    folder = evalsets.resolve_folder(policy.resolved_evalset_dir(), settings.evalset_root)
    loaded = evalsets.load(folder, roles=("holdout",))
    holdout = loaded.role("holdout")
    if holdout is None:
        raise Conflict(f"evalset {policy.resolved_evalset_dir()} has no holdout file", field="evalset_dir")
    sha, preds = (
        _champion_predictions(session, candidate, holdout.sha256)
        if target.task == "classification"
        else (None, None)
    )
    source = {
        "evalset_dir": policy.resolved_evalset_dir(),
        "manifest_version": loaded.version,
        "holdout_file": holdout.name,
        "holdout_sha256": holdout.sha256,
        "predictions_source_sha256": sha,
    }
    existing = latest_reference(session, candidate.id)
    if existing is not None and (existing.source, existing.policy_version) == (source, target.policy_version):
        return existing
    rows = _holdout_rows(candidate, holdout.rows, preds)
    frame = refs.frame_from_rows(rows, refs.feature_names(rows))
    return store_reference(session, candidate=candidate, frame=frame, source=source, actor=actor, now=now)


def on_promoted(session: Session, *, candidate: Candidate, settings: Settings) -> DriftReference | None:
    """Pin the new champion's drift reference; never fails the promotion that calls it.

    Inside a savepoint, so a half-built reference leaves nothing behind; when the reference cannot be
    built (no holdout, predictions not cached) it logs why and returns None, and the drift daemon
    retries lazily on its next pass.
    """
    try:
        with session.begin_nested():
            return build_reference_for(session, candidate=candidate, settings=settings)
    except (GatekeeperError, ValueError) as exc:
        detail = exc.detail if isinstance(exc, GatekeeperError) else str(exc)
        log.warning("no drift reference for %s v%s: %s", candidate.target.name, candidate.version, detail)
        return None


def profile_of(ref: DriftReference) -> ReferenceProfile:
    return ReferenceProfile.from_dict(ref.profile)


def rules_of(ref: DriftReference) -> dict[str, SustainRule]:
    thr = ref.thresholds
    return rules_from_policy(thr, min_samples=int(thr["min_samples"]), min_labelled=int(thr["min_labelled"]))


def kl_levels(ref: DriftReference) -> tuple[float, float, float]:
    thr = ref.thresholds
    return float(thr["kl_monitor"]), float(thr["kl_alert"]), float(thr["kl_retrain"])
