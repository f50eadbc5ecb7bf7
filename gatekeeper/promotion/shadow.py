"""Shadow: the candidate answers mirrored traffic it does not serve. The summary and verdict are
pure functions of the records; the service stores batches and starts shadow mode."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import fisher_exact
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from gatekeeper.errors import Conflict
from gatekeeper.policy.schema import ShadowPolicy
from gatekeeper.promotion.models import ShadowRecord
from gatekeeper.promotion.schemas import SLICE_FIELDS, ShadowRecordIn
from gatekeeper.registry import audit
from gatekeeper.registry import service as registry
from gatekeeper.registry.models import Candidate
from gatekeeper.registry.states import Status

MIN_RECORDS = 100  # below this, agreement and error rates are not judged yet
ALPHA = 0.05


@dataclass(frozen=True)
class Columns:
    ts: np.ndarray  # epoch seconds
    agree: np.ndarray
    champion_latency: np.ndarray
    candidate_latency: np.ndarray
    champion_error: np.ndarray
    candidate_error: np.ndarray
    slices: list[dict[str, Any]]


def _p99(values: np.ndarray) -> float:
    return float(np.percentile(values, 99)) if values.size else 0.0


def _per_slice(cols: Columns) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, row in enumerate(cols.slices):
        for name in SLICE_FIELDS:
            if row.get(name) is not None:
                groups[(name, str(row[name]))].append(i)
    return [
        {"slice": f"{d}={v}", "n": len(idx), "agreement": float(cols.agree[idx].mean())}
        for (d, v), idx in sorted(groups.items())
    ]


def summarise(cols: Columns, policy: ShadowPolicy) -> dict[str, Any]:
    """Agreement overall and per slice, p99 latency of each model, error rates, and the verdict."""
    n = int(cols.agree.size)
    hours = float((cols.ts.max() - cols.ts.min()) / 3600) if n else 0.0
    champ_err, cand_err = int(cols.champion_error.sum()), int(cols.candidate_error.sum())
    p_worse = (
        float(fisher_exact([[cand_err, n - cand_err], [champ_err, n - champ_err]], alternative="greater")[1])
        if n
        else 1.0
    )
    summary = {
        "n": n,
        "hours": round(hours, 3),
        "agreement": float(cols.agree.mean()) if n else None,
        "champion_p99_ms": _p99(cols.champion_latency),
        "candidate_p99_ms": _p99(cols.candidate_latency),
        "champion_error_rate": champ_err / n if n else None,
        "candidate_error_rate": cand_err / n if n else None,
        "error_rate_p_value": p_worse,
        "per_slice": _per_slice(cols) if n else [],
    }
    return summary | verdict(summary, policy)


def verdict(s: dict[str, Any], policy: ShadowPolicy) -> dict[str, Any]:
    if s["n"] < MIN_RECORDS:
        return {"verdict": "pending", "reasons": [f"{s['n']} record(s); judged from {MIN_RECORDS}"]}
    reasons = []
    limit = s["champion_p99_ms"] * policy.max_p99_ratio
    if s["candidate_p99_ms"] > limit:
        reasons.append(
            f"candidate p99 {s['candidate_p99_ms']:.1f} ms > champion p99 {s['champion_p99_ms']:.1f} ms"
            f" x {policy.max_p99_ratio}"
        )
    if s["agreement"] < policy.min_agreement:
        reasons.append(f"agreement {s['agreement']:.3f} < {policy.min_agreement}")
    if s["error_rate_p_value"] < ALPHA:
        reasons.append(
            f"candidate error rate {s['candidate_error_rate']:.4f} is worse than the champion's "
            f"{s['champion_error_rate']:.4f} (one-sided Fisher p={s['error_rate_p_value']:.3g})"
        )
    if reasons:
        return {"verdict": "fail", "reasons": reasons}
    if s["hours"] < policy.min_hours:
        return {
            "verdict": "pending",
            "reasons": [f"{s['hours']:.1f} h of records; passes after {policy.min_hours:g} h"],
        }
    return {
        "verdict": "pass",
        "reasons": [
            f"agreement {s['agreement']:.3f}, p99 {s['candidate_p99_ms']:.1f} vs "
            f"{s['champion_p99_ms']:.1f} ms over {s['hours']:.1f} h"
        ],
    }


# --- service ----------------------------------------------------------------------------------


def start(session: Session, *, candidate_id: str, actor: str) -> Candidate:
    """gate_passed -> shadow: the serving layer starts mirroring traffic to it (weight 0 in routing)."""
    candidate = registry.get_candidate(session, candidate_id, lock=True)
    if registry.champion_of(session, candidate.target) is None:
        raise Conflict(
            "the target has no champion to shadow against; promote its first model directly",
            current_status=candidate.status,
        )
    registry.transition(session, candidate, Status.SHADOW, actor=actor)
    return candidate


def record(session: Session, *, candidate_id: str, records: Sequence[ShadowRecordIn], actor: str) -> int:
    """Store a batch; a request_id sent again replaces its earlier record (never double-counted)."""
    candidate = registry.get_candidate(session, candidate_id)
    if candidate.status != Status.SHADOW.value:
        raise Conflict(
            f"candidate is {candidate.status}; shadow records are taken while it is in shadow",
            current_status=candidate.status,
        )
    rows = [
        {
            "candidate_id": candidate.id,
            "request_id": r.request_id,
            "ts": r.ts,
            "slices": {f: getattr(r, f) for f in SLICE_FIELDS if getattr(r, f) is not None},
            "champion_prediction": r.champion_prediction,
            "candidate_prediction": r.candidate_prediction,
            "champion_latency_ms": r.champion_latency_ms,
            "candidate_latency_ms": r.candidate_latency_ms,
            "champion_error": r.champion_error,
            "candidate_error": r.candidate_error,
        }
        for r in records
    ]
    unique = list({row["request_id"]: row for row in rows}.values())  # last one in the batch wins
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(ShadowRecord).values(unique)
    updated = {c: stmt.excluded[c] for c in unique[0] if c not in ("candidate_id", "request_id")}
    session.execute(stmt.on_conflict_do_update(index_elements=["candidate_id", "request_id"], set_=updated))
    audit.record(
        session,
        actor=actor,
        action="shadow.records",
        entity_type="candidate",
        entity_id=candidate.id,
        after={"records": len(unique)},
    )
    return len(unique)


def columns(session: Session, candidate: Candidate) -> Columns:
    rows = session.execute(
        select(
            ShadowRecord.ts,
            ShadowRecord.champion_prediction,
            ShadowRecord.candidate_prediction,
            ShadowRecord.champion_latency_ms,
            ShadowRecord.candidate_latency_ms,
            ShadowRecord.champion_error,
            ShadowRecord.candidate_error,
            ShadowRecord.slices,
        ).where(ShadowRecord.candidate_id == candidate.id)
    ).all()
    return Columns(
        ts=np.array([r[0].timestamp() for r in rows], dtype=float),
        agree=np.array([r[1] == r[2] for r in rows], dtype=float),
        champion_latency=np.array([r[3] for r in rows], dtype=float),
        candidate_latency=np.array([r[4] for r in rows], dtype=float),
        champion_error=np.array([r[5] for r in rows], dtype=bool),
        candidate_error=np.array([r[6] for r in rows], dtype=bool),
        slices=[r[7] or {} for r in rows],
    )


def summary_of(session: Session, candidate: Candidate) -> dict[str, Any]:
    policy = registry.policy_of(session, candidate.target)
    return {
        "candidate_id": str(candidate.id),
        "status": candidate.status,
        **summarise(columns(session, candidate), policy.shadow),
    }
