"""Drift windows: align, compute, store and read back fast and slow window results, and purge old
rows. The daemon (``gatekeeper.drift.daemon``) strings these into a pass; the statistics live in
``gatekeeper.drift.stats``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pandas as pd
from sqlalchemy import CursorResult, delete, func, select
from sqlalchemy.orm import Session

from gatekeeper.drift import reference as refs
from gatekeeper.drift.ingest import LABELS, LOGS
from gatekeeper.drift.models import DriftLabel, DriftReference, DriftResult
from gatekeeper.drift.references import kl_levels, profile_of, rules_of
from gatekeeper.drift.stats import ReferenceProfile

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FAST_KINDS, SLOW_KINDS = ("input", "prediction"), ("label", "concept")
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


def floor_time(moment: datetime, length: timedelta) -> datetime:
    """The start of the window of ``length`` holding ``moment`` (windows are aligned on the epoch)."""
    return EPOCH + ((moment - EPOCH) // length) * length


def feature_keys(profile: ReferenceProfile) -> list[str]:
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
    keys = feature_keys(profile)
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
    frame = log_frame(session, ref.target_id, *fast, feature_keys(profile))
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
