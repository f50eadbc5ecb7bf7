"""Drift hub operations: ingest logs and labels, pin a champion's reference, compute and store window
results, read them back, and acknowledge events. Every function runs in the caller's transaction.

The daemon (``gatekeeper.drift.daemon``) strings these together into a pass; the statistics live in
``gatekeeper.drift.stats`` and the comparisons with the reference in ``gatekeeper.drift.reference``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar, cast

import pandas as pd
from pydantic import BaseModel, ValidationError
from sqlalchemy import CursorResult, Table, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from gatekeeper.clock import utcnow
from gatekeeper.config import Settings
from gatekeeper.db import get_by_id, is_postgres
from gatekeeper.drift import reference as refs
from gatekeeper.drift.models import (
    LIVE_STATUSES,
    DriftEvent,
    DriftLabel,
    DriftReference,
    DriftResult,
    PredictionLog,
)
from gatekeeper.drift.schemas import MAX_BATCH, AckIn, IngestRead, LabelIn, LabelIngestRead, PredictionLogIn
from gatekeeper.drift.stats import ReferenceProfile
from gatekeeper.drift.sustain import SustainRule, rules_from_policy
from gatekeeper.drift.triage import triage
from gatekeeper.errors import Conflict, GatekeeperError, NotFound, ValidationFailed
from gatekeeper.evaluation import evalset as evalsets
from gatekeeper.evaluation import service as evaluations
from gatekeeper.evaluation.models import PredictionSet
from gatekeeper.evaluation.predictions import Predictions
from gatekeeper.policy.schema import DriftPolicy, Policy
from gatekeeper.registry import audit
from gatekeeper.registry import service as registry
from gatekeeper.registry.models import Candidate, Target

log = logging.getLogger("gatekeeper.drift")
M = TypeVar("M", bound=BaseModel)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CHUNK = 5000  # ids per IN (...) list: well inside SQLite's and Postgres' parameter limits
MAX_ERRORS = 20
SAFETY_DEFAULT = ("return_request", "escalation")  # seed 002 section 6.3's safety-critical slices
FAST_KINDS, SLOW_KINDS = ("input", "prediction"), ("label", "concept")
LOGS = cast(Table, PredictionLog.__table__)
LABELS = cast(Table, DriftLabel.__table__)
LabelRow = tuple[str, str | None, uuid.UUID | None]  # label, served prediction, serving candidate


@dataclass(frozen=True)
class Cadence:
    """Window lengths and horizons. Production: 5-minute and daily windows; tests and the demo may
    widen the fast window to replay weeks quickly (results carry their window bounds either way)."""

    fast: timedelta = timedelta(minutes=5)
    slow: timedelta = timedelta(days=1)
    settle: timedelta = timedelta(minutes=1)  # late rows of a window still arrive after its end
    fast_catchup: timedelta = timedelta(days=2)
    slow_catchup: timedelta = timedelta(days=14)
    log_retention: timedelta = timedelta(days=8)
    label_retention: timedelta = timedelta(days=90)


# --- ingestion -------------------------------------------------------------------------------------


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _validated(rows: Any, model: type[M], what: str) -> list[M]:
    """Every row valid or nothing: the 422 names the first bad row's index and field."""
    if not isinstance(rows, list):
        raise ValidationFailed(f"{what} must be a JSON array of rows", field="body")
    if len(rows) > MAX_BATCH:
        raise ValidationFailed(
            f"at most {MAX_BATCH} rows per batch, got {len(rows)}; nothing was stored", field="body"
        )
    out, errors = [], []
    for i, row in enumerate(rows):
        try:
            out.append(model.model_validate(row))
        except ValidationError as exc:
            errors += [
                {"row": i, "field": ".".join(str(p) for p in e["loc"]) or "row", "msg": e["msg"]}
                for e in exc.errors()
            ]
            if len(errors) >= MAX_ERRORS:
                break
    if errors:
        first = errors[0]
        raise ValidationFailed(
            f"row {first['row']}: {first['field']}: {first['msg']}; nothing was stored",
            row=first["row"],
            field=first["field"],
            errors=errors[:MAX_ERRORS],
        )
    return out


def _insert(session: Session) -> Any:
    return pg_insert if is_postgres(session) else sqlite_insert


def _existing(
    session: Session, model: type[PredictionLog | DriftLabel], target_id: int, ids: list[str]
) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(ids):
        found.update(
            session.scalars(
                select(model.request_id).where(model.target_id == target_id, model.request_id.in_(chunk))
            )
        )
    return found


def _check_candidates(session: Session, target: Target, logs: list[PredictionLogIn]) -> None:
    wanted = {r.candidate_id for r in logs}
    known = set(
        session.scalars(
            select(Candidate.id).where(Candidate.target_id == target.id, Candidate.id.in_(wanted))
        )
    )
    for i, row in enumerate(logs):
        if row.candidate_id not in known:
            raise ValidationFailed(
                f"row {i}: candidate_id: {row.candidate_id} is not a candidate of {target.name}; "
                "nothing was stored",
                row=i,
                field="candidate_id",
            )


def _log_values(target_id: int, r: PredictionLogIn) -> dict[str, Any]:
    return {
        "target_id": target_id,
        "request_id": r.request_id,
        "ts": r.ts,
        "candidate_id": r.candidate_id,
        "prediction": r.prediction,
        "confidence": r.confidence,
        "lang": r.lang,
        "cohort": r.cohort,
        "device": r.device,
        "catalog_tier": r.catalog_tier,
        "time_bucket": r.time_bucket,
        "text": r.text,
        "features": r.features or None,
    }


def ingest_logs(session: Session, *, target_name: str, rows: Any) -> IngestRead:
    """Store a batch of served predictions; a request_id already stored (or repeated) is ignored."""
    logs = _validated(rows, PredictionLogIn, "prediction logs")
    target = registry.get_target(session, target_name)
    _check_candidates(session, target, logs)
    first = list({r.request_id: r for r in reversed(logs)}.values())  # the first row of each request wins
    known = _existing(session, PredictionLog, target.id, [r.request_id for r in first])
    new = [r for r in first if r.request_id not in known]
    if new:
        stmt = _insert(session)(LOGS).on_conflict_do_nothing(index_elements=["target_id", "request_id"])
        session.execute(stmt, [_log_values(target.id, r) for r in new])
        _backfill_labels(session, target.id, [r.request_id for r in new])
    return IngestRead(received=len(logs), accepted=len(new), duplicates=len(logs) - len(new))


def _backfill_labels(session: Session, target_id: int, ids: list[str]) -> None:
    """Labels that arrived before their log get the served prediction now."""
    logs, labels = LOGS, LABELS
    served = logs.c.target_id == labels.c.target_id, logs.c.request_id == labels.c.request_id
    for chunk in _chunks(ids):
        session.execute(
            update(labels)
            .where(
                labels.c.target_id == target_id, labels.c.prediction.is_(None), labels.c.request_id.in_(chunk)
            )
            .values(
                prediction=select(logs.c.prediction).where(*served).scalar_subquery(),
                candidate_id=select(logs.c.candidate_id).where(*served).scalar_subquery(),
            )
        )


def _served(session: Session, target_id: int, ids: list[str]) -> dict[str, tuple[str, uuid.UUID]]:
    out: dict[str, tuple[str, uuid.UUID]] = {}
    for chunk in _chunks(ids):
        rows = session.execute(
            select(PredictionLog.request_id, PredictionLog.prediction, PredictionLog.candidate_id).where(
                PredictionLog.target_id == target_id, PredictionLog.request_id.in_(chunk)
            )
        )
        out.update({rid: (pred, cand) for rid, pred, cand in rows})
    return out


def ingest_labels(session: Session, *, target_name: str, rows: Any) -> LabelIngestRead:
    """Store late labels; a new label for a known request_id replaces the old one (counted once)."""
    items = _validated(rows, LabelIn, "labels")
    target = registry.get_target(session, target_name)
    latest = {r.request_id: r for r in items}  # within a batch, the last label of a request wins
    ids = list(latest)
    replaced = _existing(session, DriftLabel, target.id, ids)
    served = _served(session, target.id, ids)
    values = [
        {
            "target_id": target.id,
            "request_id": rid,
            "label": r.label,
            "labelled_at": r.labelled_at,
            "prediction": served.get(rid, (None, None))[0],
            "candidate_id": served.get(rid, (None, None))[1],
        }
        for rid, r in latest.items()
    ]
    if values:
        table = LABELS
        stmt = _insert(session)(table)
        stmt = stmt.on_conflict_do_update(
            index_elements=["target_id", "request_id"],
            set_={
                "label": stmt.excluded.label,
                "labelled_at": stmt.excluded.labelled_at,
                "prediction": func.coalesce(stmt.excluded.prediction, table.c.prediction),
                "candidate_id": func.coalesce(stmt.excluded.candidate_id, table.c.candidate_id),
            },
        )
        session.execute(stmt, values)
    return LabelIngestRead(
        received=len(items), accepted=len(ids) - len(replaced), replaced=len(replaced), matched=len(served)
    )


# --- references ------------------------------------------------------------------------------------


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
    audit.record(
        session,
        actor=actor,
        action="drift.reference.create",
        entity_type="candidate",
        entity_id=candidate.id,
        after={
            "reference_id": ref.id,
            "version": ref.version,
            "policy_version": ref.policy_version,
            "rows": profile.n,
            "reference_f1": profile.reference_f1,
            "source": source,
        },
    )
    return ref


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
        row = session.scalar(
            select(PredictionSet).where(
                PredictionSet.source_sha256 == sha, PredictionSet.file_sha256 == file_sha
            )
        )
        if row is not None:
            return sha, Predictions.from_payload(row.payload)
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
    if (
        existing is not None
        and existing.source == source
        and existing.policy_version == target.policy_version
    ):
        return existing
    rows = _holdout_rows(candidate, holdout.rows, preds)
    frame = refs.frame_from_rows(rows, refs.feature_names(rows))
    return store_reference(session, candidate=candidate, frame=frame, source=source, actor=actor, now=now)


def on_promoted(
    session: Session,
    *,
    candidate: Candidate,
    settings: Settings,
    actor: str = "system",
    now: datetime | None = None,
) -> DriftReference | None:
    """Pin the new champion's drift reference; never fails the promotion that calls it.

    Inside a savepoint, so a half-built reference leaves nothing behind; when the reference cannot be
    built (no holdout, predictions not cached) it logs why and returns None, and the drift daemon
    retries lazily on its next pass.
    """
    try:
        with session.begin_nested():
            return build_reference_for(session, candidate=candidate, settings=settings, actor=actor, now=now)
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


# --- windows ---------------------------------------------------------------------------------------


def floor_time(moment: datetime, length: timedelta) -> datetime:
    """The start of the window of ``length`` holding ``moment`` (windows are aligned on the epoch)."""
    return EPOCH + ((moment - EPOCH) // length) * length


def _feature_keys(profile: ReferenceProfile) -> list[str]:
    names = [*profile.numeric, *profile.categorical]
    return [n[len(refs.FEATURE_PREFIX) :] for n in names if n.startswith(refs.FEATURE_PREFIX)]


def log_frame(
    session: Session, target_id: int, start: datetime, end: datetime, features: list[str]
) -> pd.DataFrame:
    """The window's logged predictions as drift columns, plus ``candidate_id``."""
    t = LOGS
    names = [*refs.SLICE_FIELDS, refs.TEXT, refs.PREDICTION, refs.CONFIDENCE, "candidate_id", "features"]
    rows = session.execute(
        select(*(t.c[n] for n in names)).where(t.c.target_id == target_id, t.c.ts >= start, t.c.ts < end)
    ).all()
    df = pd.DataFrame.from_records(rows, columns=names, coerce_float=False)
    for key in features:
        df[refs.FEATURE_PREFIX + key] = [(f or {}).get(key) for f in df["features"]]
    return df.drop(columns=["features"])


def label_rows(session: Session, target_id: int, start: datetime, end: datetime) -> list[LabelRow]:
    """(label, served prediction, serving candidate) of labels received in the window."""
    rows = session.execute(
        select(DriftLabel.label, DriftLabel.prediction, DriftLabel.candidate_id).where(
            DriftLabel.target_id == target_id, DriftLabel.labelled_at >= start, DriftLabel.labelled_at < end
        )
    )
    return [(label, pred, cand) for label, pred, cand in rows]


def _pending(
    session: Session,
    target_id: int,
    kinds: tuple[str, ...],
    length: timedelta,
    now: datetime,
    catchup: timedelta,
    settle: timedelta,
    data_time: Any,
) -> list[tuple[datetime, datetime]]:
    """Complete windows not yet stored: from the last stored one (or the first data within the
    catch-up horizon) up to the last window that ended ``settle`` ago."""
    end = floor_time(now - settle, length)
    lower = floor_time(now - catchup, length)
    last = session.scalar(
        select(func.max(DriftResult.window_end)).where(
            DriftResult.target_id == target_id, DriftResult.kind.in_(kinds)
        )
    )
    if last is not None and last >= lower:
        start = last
    else:
        table = data_time.table
        first = session.scalar(
            select(func.min(data_time)).where(table.c.target_id == target_id, data_time >= lower)
        )
        if first is None:
            return []
        start = max(floor_time(first, length), lower)
    return [(start + i * length, start + (i + 1) * length) for i in range(max(0, (end - start) // length))]


def fast_figures(
    kind: str, ref: DriftReference, profile: ReferenceProfile, frame: pd.DataFrame
) -> refs.WindowFigures:
    """Input drift over every logged request; prediction drift over those the champion served."""
    if kind == "input":
        return refs.input_figures(profile, frame)
    served = frame[frame["candidate_id"] == ref.candidate_id] if len(frame) else frame
    return refs.prediction_figures(profile, served, kl_levels(ref))


def slow_figures(
    kind: str, ref: DriftReference, profile: ReferenceProfile, rows: list[LabelRow]
) -> refs.WindowFigures:
    """Label drift over every label; concept drift over labels of requests the champion served."""
    if kind == "label":
        return refs.label_figures(profile, [label for label, _, _ in rows])
    judged = [(label, pred) for label, pred, cand in rows if pred is not None and cand == ref.candidate_id]
    return refs.concept_figures(profile, [y for y, _ in judged], [p for _, p in judged])


def _result(
    ref: DriftReference, kind: str, window: tuple[datetime, datetime], fig: refs.WindowFigures, now: datetime
) -> DriftResult:
    rule = rules_of(ref)[kind]
    breached = fig.value is not None and fig.n >= rule.min_samples and rule.holds(fig.value)
    return DriftResult(
        target_id=ref.target_id,
        reference_id=ref.id,
        kind=kind,
        window_start=window[0],
        window_end=window[1],
        n=fig.n,
        value=fig.value,
        threshold=rule.threshold,
        breached=breached,
        figures=fig.figures,
        computed_at=now,
    )


def compute_windows(
    session: Session, *, ref: DriftReference, now: datetime, cadence: Cadence
) -> list[DriftResult]:
    """Compute and store every pending window of the four kinds against ``ref`` (one row per kind)."""
    profile = profile_of(ref)
    keys = _feature_keys(profile)
    out: list[DriftResult] = []
    c = cadence
    for window in _pending(
        session, ref.target_id, FAST_KINDS, c.fast, now, c.fast_catchup, c.settle, LOGS.c.ts
    ):
        frame = log_frame(session, ref.target_id, *window, keys)
        out += [_result(ref, k, window, fast_figures(k, ref, profile, frame), now) for k in FAST_KINDS]
    labelled = LABELS.c.labelled_at
    for window in _pending(
        session, ref.target_id, SLOW_KINDS, c.slow, now, c.slow_catchup, c.settle, labelled
    ):
        rows = label_rows(session, ref.target_id, *window)
        out += [_result(ref, k, window, slow_figures(k, ref, profile, rows), now) for k in SLOW_KINDS]
    session.add_all(out)
    session.flush()
    return out


def live_figures(session: Session, *, ref: DriftReference, now: datetime, cadence: Cadence) -> dict[str, Any]:
    """Figures of the trailing fast and slow windows ending now, computed on demand and not stored."""
    profile = profile_of(ref)
    fast, slow = (now - cadence.fast, now), (now - cadence.slow, now)
    frame = log_frame(session, ref.target_id, *fast, _feature_keys(profile))
    labels = label_rows(session, ref.target_id, *slow)
    figures = {k: (fast, fast_figures(k, ref, profile, frame)) for k in FAST_KINDS} | {
        k: (slow, slow_figures(k, ref, profile, labels)) for k in SLOW_KINDS
    }
    return {
        kind: {"window_start": w[0], "window_end": w[1], "n": f.n, "value": f.value, "figures": f.figures}
        for kind, (w, f) in figures.items()
    }


def results_of(
    session: Session,
    *,
    target_id: int,
    kind: str,
    since: datetime,
    reference_id: int | None = None,
    limit: int = 5000,
) -> list[DriftResult]:
    """Stored windows of one kind ending after ``since``, oldest first (the newest ``limit`` of them)."""
    stmt = (
        select(DriftResult)
        .where(DriftResult.target_id == target_id, DriftResult.kind == kind, DriftResult.window_end > since)
        .order_by(DriftResult.window_start.desc())
        .limit(limit)
    )
    if reference_id is not None:
        stmt = stmt.where(DriftResult.reference_id == reference_id)
    return list(reversed(list(session.scalars(stmt))))


def purge(session: Session, *, target_id: int, now: datetime, cadence: Cadence) -> tuple[int, int]:
    """Drop logs and labels past their retention; window results and events are kept."""
    old_logs = delete(LOGS).where(LOGS.c.target_id == target_id, LOGS.c.ts < now - cadence.log_retention)
    old_labels = delete(LABELS).where(
        LABELS.c.target_id == target_id, LABELS.c.labelled_at < now - cadence.label_retention
    )
    gone = [cast(CursorResult[Any], session.execute(stmt)).rowcount for stmt in (old_logs, old_labels)]
    return int(gone[0] or 0), int(gone[1] or 0)


# --- events ----------------------------------------------------------------------------------------


def get_event(session: Session, event_id: str | uuid.UUID, *, lock: bool = False) -> DriftEvent:
    return get_by_id(session, DriftEvent, event_id, what="drift event", field="event_id", lock=lock)


def list_events(
    session: Session, *, target_name: str, status: str | None = None, limit: int = 100
) -> list[DriftEvent]:
    target = registry.get_target(session, target_name)
    stmt = (
        select(DriftEvent)
        .where(DriftEvent.target_id == target.id)
        .order_by(DriftEvent.opened_at.desc(), DriftEvent.id)
        .limit(limit)
    )
    if status == "live":
        stmt = stmt.where(DriftEvent.status.in_(LIVE_STATUSES))
    elif status:
        stmt = stmt.where(DriftEvent.status == status)
    return list(session.scalars(stmt))


def acknowledge(session: Session, *, event_id: str, spec: AckIn, actor: str, now: datetime) -> DriftEvent:
    """On-call has seen the event; a seasonal acknowledgement sets the action to none and suppresses
    this kind's alerts until ``until`` (or, without it, for as long as this event lasts)."""
    event = get_event(session, event_id, lock=True)
    if event.status not in LIVE_STATUSES:
        raise Conflict(
            f"drift event is {event.status}; only live events are acknowledged", status=event.status
        )
    if spec.until is not None and not spec.seasonal:
        raise ValidationFailed("until applies to seasonal acknowledgements only", field="until")
    if spec.until is not None and spec.until <= now:
        raise ValidationFailed(f"until must be in the future (now is {now.isoformat()})", field="until")
    before = {"status": event.status, "action": event.action, "seasonal": event.seasonal}
    event.status, event.ack_by, event.ack_at, event.ack_reason = "acknowledged", actor, now, spec.reason
    event.seasonal, event.suppress_until = spec.seasonal, spec.until
    if spec.seasonal:
        decision = triage(kind=event.kind, sustained_for=now - event.since, seasonal=True)
        event.action, event.reasons = decision.action, [*decision.reasons, f"on-call: {spec.reason}"]
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="drift.event.ack",
        entity_type="drift_event",
        entity_id=event.id,
        before=before,
        after={
            "status": event.status,
            "action": event.action,
            "seasonal": spec.seasonal,
            "until": spec.until.isoformat() if spec.until else None,
        },
        note=spec.reason,
    )
    return event


# --- the Evidently report --------------------------------------------------------------------------


def report_path(settings: Settings, target_name: str, window_start: datetime) -> Path:
    return settings.report_dir / "drift" / target_name / f"window-{window_start:%Y%m%dT%H%M%SZ}.html"


def _report_frames(
    ref: DriftReference, frame: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, list[str], list[str]]:
    profile = profile_of(ref)
    reference = pd.DataFrame(ref.sample)
    current = frame.drop(columns=["candidate_id"])
    for df in (reference, current):
        if refs.TEXT in df.columns:
            df["text_length"] = df[refs.TEXT].fillna("").map(len)
    categorical = [*profile.categorical, *([refs.PREDICTION] if profile.predictions else [])]
    numeric = [
        *profile.numeric,
        *(["text_length"] if profile.text else []),
        *([refs.CONFIDENCE] if profile.confidence_field else []),
    ]
    usable = [
        c
        for c in [*categorical, *numeric]
        if c in reference.columns
        and c in current.columns
        and reference[c].notna().any()
        and current[c].notna().any()
    ]
    for c in (c for c in usable if c in categorical):
        reference[c] = reference[c].astype(object).where(reference[c].notna(), "__missing__").astype(str)
        current[c] = current[c].astype(object).where(current[c].notna(), "__missing__").astype(str)
    for c in (c for c in usable if c not in categorical):
        reference[c], current[c] = pd.to_numeric(reference[c]), pd.to_numeric(current[c])
    return reference, current, usable, [c for c in usable if c in categorical]


def render_report(
    session: Session,
    settings: Settings,
    *,
    target_name: str,
    window_start: datetime | None = None,
    keep: int = 3,
) -> tuple[Path, DriftResult]:
    """Evidently's drift report of one fast window (default: the latest) against the reference sample."""
    from gatekeeper.drift.evidently_report import evidently_drift

    target = registry.get_target(session, target_name)
    stmt = select(DriftResult).where(DriftResult.target_id == target.id, DriftResult.kind == "input")
    if window_start is not None:
        stmt = stmt.where(DriftResult.window_start == window_start)
    result = session.scalar(stmt.order_by(DriftResult.window_start.desc()).limit(1))
    if result is None:
        raise NotFound(
            f"no input drift window for {target_name}" + (f" at {window_start}" if window_start else "")
        )
    path = report_path(settings, target_name, result.window_start)
    if path.is_file():
        return path, result
    ref = session.get(DriftReference, result.reference_id)
    assert ref is not None  # a result's reference row is never deleted (foreign key)
    frame = log_frame(
        session, target.id, result.window_start, result.window_end, _feature_keys(profile_of(ref))
    )
    if frame.empty:
        raise Conflict("the logs of that window are no longer kept; its figures are", field="window_start")
    reference, current, columns, categorical = _report_frames(ref, frame)
    evidently_drift(reference, current, columns, html_path=path, categorical=categorical)
    for old in sorted(path.parent.glob("window-*.html"))[:-keep]:
        old.unlink(missing_ok=True)
    return path, result
