"""Metric windows in and out of the database: append-only on (canary, group, start), and column-wise
reads that feed the rules without building a Python object per window."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import String, cast, insert, select
from sqlalchemy.orm import Session

from gatekeeper.canary.models import MetricWindow
from gatekeeper.canary.rules import GroupArrays, WindowArrays
from gatekeeper.canary.schemas import MetricWindowIn
from gatekeeper.errors import RefusedEvidence, ValidationFailed

_CHUNK = 1000


_FIGURES = ("end_s", "requests", "errors", "latency_p99_ms", "safety", "exceptions")
# A window's traffic columns, in the order ``_arrays`` and ``_group_from_rows`` read them (fields 0-4).
_TRAFFIC = (
    MetricWindow.start_s,
    MetricWindow.end_s,
    MetricWindow.requests,
    MetricWindow.errors,
    MetricWindow.latency_p99_ms,
)


@dataclass(frozen=True)
class Bounds:
    """Where a posted window may lie, in epoch seconds (the canary service sets them; see ``time_errors``).

    Canary and holdout windows: start >= ``since_s`` - skew and end <= ``now_s`` + skew. Baseline
    windows: inside [``baseline_from_s``, ``baseline_to_s``], the hour before the canary started."""

    since_s: int
    now_s: int
    skew_s: int
    baseline_from_s: int
    baseline_to_s: int


def _time_error(i: int, w: MetricWindowIn, bounds: Bounds) -> dict[str, str] | None:
    start, end = int(w.start.timestamp()), int(w.end.timestamp())
    if w.group == "baseline":
        if bounds.baseline_from_s <= start and end <= bounds.baseline_to_s:
            return None
        field = "start" if start < bounds.baseline_from_s else "end"
        span = f"[{_iso(bounds.baseline_from_s)}, {_iso(bounds.baseline_to_s)}]"
        msg = f"a baseline window must lie in the hour before the canary started {span}"
        return {"field": f"windows.{i}.{field}", "msg": msg, "type": "baseline_out_of_range"}
    if start < bounds.since_s - bounds.skew_s:
        msg = f"starts before {_iso(bounds.since_s)}, when the judged period began (skew {bounds.skew_s} s)"
        return {"field": f"windows.{i}.start", "msg": msg, "type": "too_old"}
    if end > bounds.now_s + bounds.skew_s:
        msg = f"ends after the server's now {_iso(bounds.now_s)} (skew {bounds.skew_s} s)"
        return {"field": f"windows.{i}.end", "msg": msg, "type": "in_the_future"}
    return None


def time_errors(
    windows: Sequence[MetricWindowIn], bounds: Bounds, *, skip: Container[int] = ()
) -> list[dict[str, str]]:
    """One error per window outside its bounds, naming ``windows.{i}.start`` or ``.end`` (pure); the
    indices in ``skip`` (windows already held, sent again unchanged) are not checked."""
    found = (_time_error(i, w, bounds) for i, w in enumerate(windows) if i not in skip)
    return [e for e in found if e is not None]


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat()


def _rows(windows: Sequence[MetricWindowIn]) -> dict[tuple[str, int], tuple[int, dict[str, Any]]]:
    """(group, start) -> (first index, figures); a key sent twice in one batch must carry one body."""
    rows: dict[tuple[str, int], tuple[int, dict[str, Any]]] = {}
    for i, w in enumerate(windows):
        key = (w.group, int(w.start.timestamp()))
        figures = {
            "end_s": int(w.end.timestamp()),
            "requests": w.requests,
            "errors": w.errors,
            "latency_p99_ms": float(w.latency_p99_ms),
            "safety": dict(w.safety),
            "exceptions": dict(w.exceptions),
        }
        if key in rows and rows[key][1] != figures:
            raise ValidationFailed(
                f"windows.{i} repeats windows.{rows[key][0]} ({key[0]} at {_iso(key[1])}) with other figures",
                errors=[
                    {"field": f"windows.{i}", "msg": "duplicate window, other figures", "type": "duplicate"}
                ],
            )
        rows.setdefault(key, (i, figures))
    return rows


def _held(
    session: Session, canary_id: uuid.UUID, keys: Iterable[tuple[str, int]]
) -> dict[tuple[str, int], dict]:
    """The windows already stored under these keys (posts to one canary are serialised by the lock that
    ``record_windows`` takes on its row, so two posts cannot both find a key new)."""
    by_group: dict[str, list[int]] = defaultdict(list)
    for group, start_s in keys:
        by_group[group].append(start_s)
    held: dict[tuple[str, int], dict] = {}
    for group, starts in by_group.items():
        for begin in range(0, len(starts), _CHUNK):
            stmt = select(MetricWindow).where(
                MetricWindow.canary_id == canary_id,
                MetricWindow.grp == group,
                MetricWindow.start_s.in_(starts[begin : begin + _CHUNK]),
            )
            for w in session.scalars(stmt):
                held[(w.grp, w.start_s)] = {f: getattr(w, f) for f in _FIGURES}
    return held


def _refuse(canary_id: uuid.UUID, changed: list[tuple[int, str, int, dict, dict]], actor: str) -> None:
    i, group, start_s, before, after = changed[0]
    named = f"{group} window at {_iso(start_s)} (windows.{i})"
    listed = [{"index": j, "group": g, "start": _iso(s)} for j, g, s, _, _ in changed]
    raise RefusedEvidence(
        f"{named} was already received with other figures; windows are append-only "
        f"({len(changed)} changed window(s) in the batch; nothing of it was stored)",
        audit={
            "actor": actor,
            "action": "canary.windows_refused",
            "entity_type": "canary",
            "entity_id": canary_id,
            "before": {"window": listed[0], **before},
            "after": {"window": listed[0], **after, "changed_windows": listed[:50]},
            "note": f"refused rewrite of {len(changed)} metric window(s)",
        },
        field=f"windows.{i}",
        windows=listed[:50],
    )


def refuse_rewrites(
    session: Session, canary_id: uuid.UUID, windows: Sequence[MetricWindowIn], *, actor: str
) -> tuple[dict[tuple[str, int], tuple[int, dict[str, Any]]], dict[tuple[str, int], dict]]:
    """Raise ``RefusedEvidence`` (audited) if the batch changes any window already held; else return the
    batch's rows and the held ones. Run whatever the canary's state, so every rewrite attempt is kept."""
    rows = _rows(windows)
    held = _held(session, canary_id, rows)
    changed = [
        (i, g, s, held[(g, s)], f) for (g, s), (i, f) in rows.items() if (g, s) in held and held[(g, s)] != f
    ]
    if changed:
        _refuse(canary_id, changed, actor)
    return rows, held


def append(
    session: Session,
    canary_id: uuid.UUID,
    windows: Sequence[MetricWindowIn],
    *,
    bounds: Bounds,
    actor: str,
    now: datetime,
) -> dict[str, int]:
    """Store the new windows of a batch: evidence is append-only. A window already held may come again
    only with the same figures (counted as unchanged); other figures refuse the whole batch (409, audited),
    and so does any new window outside ``bounds`` (422). ``received_at`` is the server's ``now``: the
    clock the daemon's incremental reads compare it with."""
    rows, held = refuse_rewrites(session, canary_id, windows, actor=actor)  # first: a rewrite is audited
    again = {i for i, w in enumerate(windows) if (w.group, int(w.start.timestamp())) in held}
    errors = time_errors(windows, bounds, skip=again)
    if errors:
        summary = "; ".join(f"{e['field']}: {e['msg']}" for e in errors[:5])
        raise ValidationFailed(
            f"{len(errors)} window(s) refused: {summary}",
            field=errors[0]["field"],
            errors=errors[:50],  # the first 50 name the pattern; a day of bad windows is 288
            refused=len(errors),
        )
    new = [
        {"canary_id": canary_id, "grp": g, "start_s": s, **f, "received_at": now}
        for (g, s), (_, f) in rows.items()
        if (g, s) not in held
    ]
    for begin in range(0, len(new), _CHUNK):  # a concurrent post of the same key fails on the unique key
        session.execute(insert(MetricWindow), new[begin : begin + _CHUNK])
    return {"accepted": len(new), "unchanged": len(windows) - len(new)}


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
        select(MetricWindow.canary_id, MetricWindow.grp, *_TRAFFIC, *safety_cols)
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


def _concat(old: GroupArrays, new: GroupArrays) -> GroupArrays:
    """Old windows then new ones; ``from_columns`` keeps the last of equal starts, i.e. the new one."""

    def merged(a: dict, b: dict, fill: float) -> dict[str, np.ndarray]:
        out = {}
        for key in set(a) | set(b):
            left = a.get(key, np.full(old.start.size, fill))
            right = b.get(key, np.full(new.start.size, fill))
            out[key] = np.concatenate([left, right])
        return out

    return GroupArrays.from_columns(
        start=np.concatenate([old.start, new.start]),
        end=np.concatenate([old.end, new.end]),
        requests=np.concatenate([old.requests, new.requests]),
        errors=np.concatenate([old.errors, new.errors]),
        latency_p99_ms=np.concatenate([old.latency_p99_ms, new.latency_p99_ms]),
        safety=merged(dict(old.safety), dict(new.safety), np.nan),
        exceptions=merged(dict(old.exceptions), dict(new.exceptions), 0),
    )


def _group_from_rows(rows: list[tuple]) -> GroupArrays:
    """Rows of (start_s, end_s, requests, errors, p99, safety dict, exceptions dict)."""
    n = len(rows)
    safety: dict[str, np.ndarray] = {}
    exceptions: dict[str, np.ndarray] = {}
    for i, row in enumerate(rows):
        for key, value in (row[5] or {}).items():
            safety.setdefault(key, np.full(n, np.nan))[i] = value
        for key, value in (row[6] or {}).items():
            exceptions.setdefault(key, np.zeros(n, dtype=np.int64))[i] = value
    return GroupArrays.from_columns(
        start=[r[0] for r in rows],
        end=[r[1] for r in rows],
        requests=[r[2] for r in rows],
        errors=[r[3] for r in rows],
        latency_p99_ms=[r[4] for r in rows],
        safety=safety,
        exceptions=exceptions,
    )


def _group_or_empty(rows: list[tuple] | None) -> GroupArrays:
    return _group_from_rows(rows) if rows else GroupArrays.empty()


class WindowCache:
    """The daemon's in-memory copy of recent windows.

    A tick reads only the windows received since the previous read (with a safety margin, because a
    transaction that started earlier can commit later), merges them in (windows are append-only, so a
    window read twice is the same window), and drops what fell out of the lookback. The first read loads
    everything. ``received_at`` and the read time both come from the injected clock, so a demo or a test
    replaying days on a manual clock reads each window once, not everything posted in the last 2 minutes.
    """

    def __init__(self, lookback_s: int, margin_s: int = 120) -> None:
        self.lookback_s, self.margin_s = lookback_s, margin_s
        self.groups: dict[uuid.UUID, dict[str, GroupArrays]] = {}
        self.held_from: dict[uuid.UUID, int] = {}  # the earliest start each canary's groups hold
        # Stage evidence reaches past the lookback: canary and holdout windows since a floor, kept only
        # for canaries whose stage time is up (loaded once, then fed by the same incremental reads).
        self.ledgers: dict[uuid.UUID, tuple[int, dict[str, GroupArrays]]] = {}
        self.watermark: Any = None

    def refresh(
        self,
        session: Session,
        canary_ids: Iterable[uuid.UUID],
        *,
        now_s: int,
        floors: Mapping[uuid.UUID, int] | None = None,
    ) -> int:
        """Bring the cache up to date for these canaries (others are forgotten); returns rows read.
        ``floors`` keeps a canary's windows from an earlier start than the lookback (the sequential rule
        judges every window since the canary was armed)."""
        ids = set(canary_ids)
        read_at = datetime.fromtimestamp(now_s, UTC)  # the daemon's clock, as append's received_at
        lowest = {cid: min(now_s - self.lookback_s, (floors or {}).get(cid, now_s)) for cid in ids}
        # A canary whose floor moved back (promoted into its bake, which reads the day before) holds
        # too little: it is read again from its new floor, never judged on what the cache kept.
        self.groups = {
            cid: g for cid, g in self.groups.items() if cid in ids and self.held_from[cid] <= lowest[cid]
        }
        self.ledgers = {cid: g for cid, g in self.ledgers.items() if cid in ids}
        self.held_from = {cid: lowest[cid] for cid in ids}
        cold = [cid for cid in ids if cid not in self.groups]
        count = self._read(session, cold, since=None, floors=lowest)
        warm = [cid for cid in ids if cid not in cold]
        if warm and self.watermark is not None:
            count += self._read(
                session, warm, since=self.watermark - timedelta(seconds=self.margin_s), floors=lowest
            )
        self.watermark = read_at
        for cid, groups in self.groups.items():
            for name in ("canary", "holdout"):
                g = groups[name]
                if g.start.size and g.start[0] < lowest[cid]:
                    groups[name] = g.select(g.start >= lowest[cid])
        return count

    def _read(
        self, session: Session, ids: list[uuid.UUID], *, since: Any, floors: Mapping[uuid.UUID, int]
    ) -> int:
        if not ids:
            return 0
        rows: dict[tuple[uuid.UUID, str], list[tuple]] = defaultdict(list)
        count = 0
        for chunk in range(0, len(ids), 500):
            stmt = select(
                MetricWindow.canary_id,
                MetricWindow.grp,
                *_TRAFFIC,
                MetricWindow.safety,
                MetricWindow.exceptions,
            ).where(MetricWindow.canary_id.in_(ids[chunk : chunk + 500]))
            if since is None:
                floor = min(floors[cid] for cid in ids[chunk : chunk + 500])
                stmt = stmt.where((MetricWindow.start_s >= floor) | (MetricWindow.grp == "baseline"))
            else:
                stmt = stmt.where(MetricWindow.received_at >= since)
            for row in session.execute(stmt):
                rows[(row[0], row[1])].append(tuple(row[2:]))
                count += 1
        for cid in ids:
            groups = self.groups.setdefault(
                cid, {g: GroupArrays.empty() for g in ("canary", "holdout", "baseline")}
            )
            for name in ("canary", "holdout", "baseline"):
                fresh = rows.get((cid, name))
                if fresh:
                    new = _group_from_rows(fresh)
                    groups[name] = new if not len(groups[name]) else _concat(groups[name], new)
                    if cid in self.ledgers and name != "baseline":
                        ledger = self.ledgers[cid][1]
                        ledger[name] = _concat(ledger[name], new) if len(ledger[name]) else new
        return count

    def ledger(self, session: Session, canary_id: uuid.UUID, since_s: int) -> WindowArrays:
        """Canary and holdout windows that start at or after ``since_s`` (a stage's evidence)."""
        held = self.ledgers.get(canary_id)
        if held is None or held[0] > since_s:
            stmt = select(MetricWindow.grp, *_TRAFFIC).where(
                MetricWindow.canary_id == canary_id,
                MetricWindow.grp.in_(("canary", "holdout")),
                MetricWindow.start_s >= since_s,
            )
            rows: dict[str, list[tuple]] = defaultdict(list)
            for row in session.execute(stmt):
                rows[row[0]].append((*row[1:], None, None))
            built = {
                g: _group_from_rows(rows[g]) if rows.get(g) else GroupArrays.empty()
                for g in ("canary", "holdout")
            }
            held = (since_s, built)
        groups = {g: a.select(a.start >= since_s) for g, a in held[1].items()}
        self.ledgers[canary_id] = (since_s, groups)
        return self.ledger_arrays(canary_id)

    def ledger_arrays(self, canary_id: uuid.UUID) -> WindowArrays:
        """The ledger as last brought up to date by ``ledger`` and ``refresh`` (no query)."""
        groups = self.ledgers[canary_id][1]
        return WindowArrays(groups["canary"], groups["holdout"], GroupArrays.empty())

    def arrays(self, canary_id: uuid.UUID) -> WindowArrays:
        groups = self.groups[canary_id]
        return WindowArrays(groups["canary"], groups["holdout"], groups["baseline"])
