"""Metric windows in and out of the database: upsert on (canary, group, start), and column-wise reads
that feed the rules without building a Python object per window."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from sqlalchemy import String, cast, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from gatekeeper.canary.rules import GroupArrays, WindowArrays
from gatekeeper.clock import utcnow
from gatekeeper.promotion.models import MetricWindow
from gatekeeper.promotion.schemas import MetricWindowIn

_CHUNK = 1000


def upsert(session: Session, canary_id: uuid.UUID, windows: Sequence[MetricWindowIn]) -> int:
    """A window sent again replaces the earlier one: re-posting never double-counts."""
    now = utcnow()
    rows = {
        (w.group, int(w.start.timestamp())): {
            "canary_id": canary_id,
            "grp": w.group,
            "start_s": int(w.start.timestamp()),
            "end_s": int(w.end.timestamp()),
            "requests": w.requests,
            "errors": w.errors,
            "latency_p99_ms": w.latency_p99_ms,
            "safety": w.safety,
            "exceptions": w.exceptions,
            "received_at": now,
        }
        for w in windows
    }
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    values = list(rows.values())
    for start in range(0, len(values), _CHUNK):
        stmt = insert(MetricWindow).values(values[start : start + _CHUNK])
        replace = {
            c: stmt.excluded[c]
            for c in ("end_s", "requests", "errors", "latency_p99_ms", "safety", "exceptions", "received_at")
        }
        session.execute(
            stmt.on_conflict_do_update(index_elements=["canary_id", "grp", "start_s"], set_=replace)
        )
    return len(values)


def counts(session: Session, canary_id: uuid.UUID) -> dict[str, int]:
    rows = session.execute(select(MetricWindow.grp).where(MetricWindow.canary_id == canary_id)).scalars()
    out: dict[str, int] = defaultdict(int)
    for group in rows:
        out[group] += 1
    return dict(out)


def _exceptions(session: Session, ids: list[uuid.UUID], since_s: int | None) -> dict[tuple[Any, str], list]:
    stmt = select(
        MetricWindow.canary_id, MetricWindow.grp, MetricWindow.start_s, MetricWindow.exceptions
    ).where(MetricWindow.canary_id.in_(ids), cast(MetricWindow.exceptions, String) != "{}")
    if since_s is not None:
        stmt = stmt.where(MetricWindow.start_s >= since_s)
    out: dict[tuple[Any, str], list] = defaultdict(list)
    for canary_id, group, start_s, exc in session.execute(stmt):
        out[(canary_id, group)].append((start_s, exc))
    return out


def load(
    session: Session,
    canary_ids: Iterable[uuid.UUID],
    safety_metrics: Sequence[str],
    *,
    since_s: int | None = None,
    exceptions_since_s: int | None = None,
) -> dict[uuid.UUID, WindowArrays]:
    """Each canary's windows as arrays; ``since_s`` bounds canary and holdout (baseline is always read)."""
    ids = list(canary_ids)
    if not ids:
        return {}
    safety_cols = [MetricWindow.safety[m].as_float() for m in safety_metrics]
    stmt = (
        select(
            MetricWindow.canary_id,
            MetricWindow.grp,
            MetricWindow.start_s,
            MetricWindow.end_s,
            MetricWindow.requests,
            MetricWindow.errors,
            MetricWindow.latency_p99_ms,
            *safety_cols,
        )
        .where(MetricWindow.canary_id.in_(ids))
        .order_by(MetricWindow.canary_id, MetricWindow.grp, MetricWindow.start_s)
    )
    if since_s is not None:
        stmt = stmt.where((MetricWindow.start_s >= since_s) | (MetricWindow.grp == "baseline"))
    rows = session.execute(stmt).all()
    exceptions = _exceptions(session, ids, exceptions_since_s)
    grouped: dict[Any, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        grouped[row[0]][row[1]].append(row[2:])
    return {cid: _arrays(cid, grouped.get(cid, {}), safety_metrics, exceptions) for cid in ids}


def _arrays(
    cid: Any, groups: dict[str, list], metrics: Sequence[str], exceptions: dict[tuple[Any, str], list]
) -> WindowArrays:
    built = {}
    for group in ("canary", "holdout", "baseline"):
        rows = groups.get(group)
        if not rows:
            built[group] = GroupArrays.empty()
            continue
        table = np.array(rows, dtype=float)
        start = table[:, 0].astype(np.int64)
        safety = {m: table[:, 5 + i] for i, m in enumerate(metrics)}
        exc: dict[str, np.ndarray] = {}
        for start_s, found in exceptions.get((cid, group), []):
            pos = int(np.searchsorted(start, start_s))
            if pos < start.size and start[pos] == start_s:
                for kind, count in found.items():
                    exc.setdefault(kind, np.zeros(start.size, dtype=np.int64))[pos] = int(count)
        built[group] = GroupArrays.from_columns(
            start=start,
            end=table[:, 1].astype(np.int64),
            requests=table[:, 2],
            errors=table[:, 3],
            latency_p99_ms=table[:, 4],
            safety=safety,
            exceptions=exc,
        )
    return WindowArrays(**built)
