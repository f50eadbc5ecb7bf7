"""The Evidently drift report of a fast window, rendered on demand next to the window results."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from gatekeeper.config import Settings
from gatekeeper.drift import reference as refs
from gatekeeper.drift.models import DriftReference, DriftResult
from gatekeeper.drift.references import profile_of
from gatekeeper.drift.windows import feature_keys, log_frame
from gatekeeper.errors import Conflict, NotFound
from gatekeeper.registry import service as registry


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
        session, target.id, result.window_start, result.window_end, feature_keys(profile_of(ref))
    )
    if frame.empty:
        raise Conflict("the logs of that window are no longer kept; its figures are", field="window_start")
    reference, current, columns, categorical = _report_frames(ref, frame)
    evidently_drift(reference, current, columns, html_path=path, categorical=categorical)
    for old in sorted(path.parent.glob("window-*.html"))[:-keep]:
        old.unlink(missing_ok=True)
    return path, result
