"""Shadow: the candidate answers mirrored traffic it does not serve. A shadow is a stage that ends: it
starts on the server clock when the candidate enters shadow and ends once, with a frozen verdict, when
``min_hours`` of server time have passed and enough records are in (or at ``max_hours`` without them).
The summary and verdict are pure functions of the records' figures, the policy and the elapsed server
time; the service stores append-only records and takes the verdict."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from scipy.stats import fisher_exact
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from gatekeeper.config import Settings
from gatekeeper.db import Database
from gatekeeper.errors import Conflict, RefusedEvidence, ValidationFailed
from gatekeeper.notify import service as notify
from gatekeeper.policy.schema import ShadowPolicy
from gatekeeper.promotion.models import Shadow, ShadowRecord
from gatekeeper.promotion.schemas import SLICE_FIELDS, ShadowRecordIn
from gatekeeper.registry import audit
from gatekeeper.registry import service as registry
from gatekeeper.registry.models import Candidate
from gatekeeper.registry.states import Status

ALPHA = 0.05
SYSTEM = "system"  # the actor when a request (not a person) brings a verdict due
LOOKUP_CHUNK = 1000
RECORD_FIELDS = (
    "ts",
    "slices",
    "champion_prediction",
    "candidate_prediction",
    "champion_latency_ms",
    "candidate_latency_ms",
    "champion_error",
    "candidate_error",
)


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


def figures(cols: Columns) -> dict[str, Any]:
    """Agreement overall and per slice, p99 latency of each model, and error rates."""
    n = int(cols.agree.size)
    champ_err, cand_err = int(cols.champion_error.sum()), int(cols.candidate_error.sum())
    p_worse = (
        float(fisher_exact([[cand_err, n - cand_err], [champ_err, n - champ_err]], alternative="greater")[1])
        if n
        else 1.0
    )
    return {
        "n": n,
        "agreement": float(cols.agree.mean()) if n else None,
        "champion_p99_ms": _p99(cols.champion_latency),
        "candidate_p99_ms": _p99(cols.candidate_latency),
        "champion_error_rate": champ_err / n if n else None,
        "candidate_error_rate": cand_err / n if n else None,
        "error_rate_p_value": p_worse,
        "per_slice": _per_slice(cols) if n else [],
    }


def summarise(cols: Columns, policy: ShadowPolicy, *, elapsed_hours: float) -> dict[str, Any]:
    """The figures, the server hours since the shadow started, and the verdict they give."""
    summary = figures(cols) | {"hours": round(elapsed_hours, 3)}
    return summary | verdict(summary, policy, elapsed_hours=elapsed_hours)


def failures(s: dict[str, Any], policy: ShadowPolicy) -> list[str]:
    """What the figures fail (latency, agreement overall and per slice, error rate), with the figures."""
    reasons = []
    limit = s["champion_p99_ms"] * policy.max_p99_ratio
    if s["candidate_p99_ms"] > limit:
        reasons.append(
            f"candidate p99 {s['candidate_p99_ms']:.1f} ms > champion p99 {s['champion_p99_ms']:.1f} ms"
            f" x {policy.max_p99_ratio}"
        )
    if s["agreement"] < policy.min_agreement:
        reasons.append(f"agreement {s['agreement']:.3f} < {policy.min_agreement}")
    for sl in s["per_slice"]:
        if sl["n"] >= policy.slice_min_support and sl["agreement"] < policy.slice_min_agreement:
            reasons.append(
                f"slice {sl['slice']}: agreement {sl['agreement']:.3f} < {policy.slice_min_agreement} "
                f"on {sl['n']} records"
            )
    if s["error_rate_p_value"] < ALPHA:
        reasons.append(
            f"candidate error rate {s['candidate_error_rate']:.4f} is worse than the champion's "
            f"{s['champion_error_rate']:.4f} (one-sided Fisher p={s['error_rate_p_value']:.3g})"
        )
    return reasons


def verdict(s: dict[str, Any], policy: ShadowPolicy, *, elapsed_hours: float) -> dict[str, Any]:
    """Pending until min_hours of server time and min_records; then pass or fail, once. Too few
    records by max_hours is a fail: a shadow that cannot be judged never lets a candidate through."""
    enough = s["n"] >= policy.min_records
    if elapsed_hours >= policy.max_hours and not enough:
        return {
            "verdict": "fail",
            "reasons": [
                f"no verdict by max_hours: {s['n']} record(s) in {elapsed_hours:.1f} h, "
                f"{policy.min_records} needed by {policy.max_hours:g} h"
            ],
        }
    if elapsed_hours < policy.min_hours or not enough:
        return {
            "verdict": "pending",
            "reasons": [
                f"{elapsed_hours:.1f} h of shadow (judged from {policy.min_hours:g} h), "
                f"{s['n']} record(s) (judged from {policy.min_records})"
            ],
        }
    reasons = failures(s, policy)
    if reasons:
        return {"verdict": "fail", "reasons": reasons}
    return {
        "verdict": "pass",
        "reasons": [
            f"agreement {s['agreement']:.3f}, p99 {s['candidate_p99_ms']:.1f} vs "
            f"{s['champion_p99_ms']:.1f} ms on {s['n']} records over {elapsed_hours:.1f} h"
        ],
    }


def hours_between(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 3600


# --- service: start and records ---------------------------------------------------------------


def stage_of(session: Session, candidate_id: uuid.UUID, *, lock: bool = False) -> Shadow | None:
    stmt = select(Shadow).where(Shadow.candidate_id == candidate_id)
    return session.scalar(stmt.with_for_update() if lock else stmt)


def start(session: Session, *, candidate_id: str, actor: str, now: datetime) -> Candidate:
    """gate_passed -> shadow: the serving layer mirrors traffic to it (weight 0); the clock starts now."""
    candidate = registry.get_candidate(session, candidate_id, lock=True)
    if registry.champion_of(session, candidate.target) is None:
        raise Conflict(
            "the target has no champion to shadow against; promote its first model directly",
            current_status=candidate.status,
        )
    registry.transition(
        session, candidate, Status.SHADOW, actor=actor, details={"started_at": now.isoformat()}
    )
    session.add(Shadow(candidate_id=candidate.id, started_at=now, started_by=actor))
    session.flush()
    return candidate


def _open_stage(session: Session, candidate: Candidate) -> Shadow:
    """The shadow taking records, or a 409 that names its verdict once it has ended."""
    stage = stage_of(session, candidate.id, lock=True)
    if stage is not None and stage.ended_at is not None:
        raise Conflict(
            f"shadow ended with verdict {stage.verdict} at {stage.ended_at.isoformat()}; records are no "
            "longer taken",
            verdict=stage.verdict,
            current_status=candidate.status,
        )
    if stage is None or candidate.status != Status.SHADOW.value:
        raise Conflict(
            f"candidate is {candidate.status}; shadow records are taken while it is in shadow",
            current_status=candidate.status,
        )
    return stage


def _check_times(
    records: Sequence[ShadowRecordIn], *, started_at: datetime, now: datetime, skew: int
) -> None:
    """A record is dated inside the shadow (give or take the allowed skew), never before or ahead."""
    lo, hi = started_at - timedelta(seconds=skew), now + timedelta(seconds=skew)
    for i, r in enumerate(records):
        if not lo <= r.ts <= hi:
            raise ValidationFailed(
                f"record {r.request_id!r} is dated {r.ts.isoformat()}, outside the shadow "
                f"[{lo.isoformat()}, {hi.isoformat()}] (started {started_at.isoformat()}, {skew} s skew)",
                field=f"records.{i}.ts",
                request_id=r.request_id,
            )


def _row(r: ShadowRecordIn) -> dict[str, Any]:
    return {
        "request_id": r.request_id,
        "ts": r.ts.astimezone(UTC),
        "slices": {f: getattr(r, f) for f in SLICE_FIELDS if getattr(r, f) is not None},
        "champion_prediction": r.champion_prediction,
        "candidate_prediction": r.candidate_prediction,
        "champion_latency_ms": r.champion_latency_ms,
        "candidate_latency_ms": r.candidate_latency_ms,
        "champion_error": r.champion_error,
        "candidate_error": r.candidate_error,
    }


def _body(row: dict[str, Any]) -> dict[str, Any]:
    """The comparable (and JSON) form of a record: what must be identical for a repeat to be one."""
    return {f: (row[f].astimezone(UTC).isoformat() if f == "ts" else row[f]) for f in RECORD_FIELDS}


def _stored(session: Session, candidate_id: uuid.UUID, request_ids: list[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    cols = [getattr(ShadowRecord, f) for f in RECORD_FIELDS]
    for begin in range(0, len(request_ids), LOOKUP_CHUNK):
        chunk = request_ids[begin : begin + LOOKUP_CHUNK]
        rows = session.execute(
            select(ShadowRecord.request_id, *cols).where(
                ShadowRecord.candidate_id == candidate_id, ShadowRecord.request_id.in_(chunk)
            )
        ).all()
        found.update({r[0]: _body(dict(zip(RECORD_FIELDS, r[1:], strict=True))) for r in rows})
    return found


def _refuse_rewrite(candidate: Candidate, request_id: str, kept: dict, sent: dict, actor: str) -> None:
    raise RefusedEvidence(
        f"shadow record {request_id!r} was already received with other figures; records are append-only",
        audit={
            "actor": actor,
            "action": "shadow.record_rewrite_refused",
            "entity_type": "candidate",
            "entity_id": str(candidate.id),
            "before": {"request_id": request_id, **kept},
            "after": {"request_id": request_id, **sent},
        },
        field="records",
        request_id=request_id,
    )


def _new_rows(session: Session, candidate: Candidate, rows: list[dict[str, Any]], actor: str) -> list[dict]:
    """Rows not yet stored. An identical repeat (in the batch or stored) is dropped; a rewrite refused."""
    stored = _stored(session, candidate.id, sorted({r["request_id"] for r in rows}))
    fresh: dict[str, dict[str, Any]] = {}
    for row in rows:
        rid, body = row["request_id"], _body(row)
        kept = stored.get(rid) or (_body(fresh[rid]) if rid in fresh else None)
        if kept is not None and kept != body:
            _refuse_rewrite(candidate, rid, kept, body, actor)
        if kept is None:
            fresh[rid] = row
    return [{"candidate_id": candidate.id, **row} for row in fresh.values()]


def record(
    session: Session,
    *,
    candidate_id: str,
    records: Sequence[ShadowRecordIn],
    actor: str,
    now: datetime,
    settings: Settings,
) -> dict[str, Any]:
    """Append a batch (identical repeats count once), then take the verdict if it is due."""
    candidate = registry.get_candidate(session, candidate_id, lock=True)
    stage = _open_stage(session, candidate)
    _check_times(records, started_at=stage.started_at, now=now, skew=settings.evidence_skew_seconds)
    new = _new_rows(session, candidate, [_row(r) for r in records], actor)
    if new:
        session.execute(insert(ShadowRecord), new)
    after = {"records": len(new), "repeats": len(records) - len(new)}
    audit.record(session, actor, "shadow.records", "candidate", candidate.id, after=after)
    ended = conclude_if_due(session, candidate_id=candidate_id, now=now, settings=settings, actor=SYSTEM)
    return {"accepted": len(new), "repeats": len(records) - len(new), "verdict": ended or "pending"}


# --- service: the verdict ---------------------------------------------------------------------


def conclude_one_due(db: Database, *, candidate_id: str, now: datetime, settings: Settings) -> None:
    """Take a verdict already due in a transaction of its own, so a refusal that follows cannot undo it."""
    with db.transaction() as session:
        conclude_if_due(session, candidate_id=candidate_id, now=now, settings=settings, actor=SYSTEM)


def conclude_if_due(
    session: Session, *, candidate_id: str | uuid.UUID, now: datetime, settings: Settings, actor: str
) -> str | None:
    """Take the shadow's verdict once it is due and end the shadow; return the verdict (None: pending).
    A verdict already taken is returned as it stands."""
    candidate = registry.get_candidate(session, candidate_id, lock=True)
    stage = stage_of(session, candidate.id, lock=True)
    if stage is None or stage.ended_at is not None or candidate.status != Status.SHADOW.value:
        return stage.verdict if stage else None
    policy = registry.policy_of(session, candidate.target).shadow
    elapsed = hours_between(stage.started_at, now)
    if elapsed < policy.min_hours:
        return None  # nothing can be due yet: the records are not even read
    summary = summarise(columns(session, candidate), policy, elapsed_hours=elapsed)
    if summary["verdict"] == "pending":
        return None
    _end(session, candidate, stage, summary, now=now, actor=actor, settings=settings)
    return stage.verdict


def _record_verdict(
    session: Session, candidate: Candidate, stage: Shadow, summary: dict, *, actor: str
) -> None:
    passed = summary["verdict"] == "pass"
    figures_only = {k: v for k, v in summary.items() if k not in ("per_slice", "reasons")}
    registry.record_decision(
        session,
        candidate=candidate,
        stage="shadow",
        verdict=summary["verdict"],
        actor=actor,
        reasons=[
            {"check": "shadow", "metric": "shadow", "severity": "hard", "passed": passed, "message": m}
            for m in summary["reasons"]
        ],
        details={
            **figures_only,
            "started_at": stage.started_at.isoformat(),
            "ended_at": stage.ended_at.isoformat() if stage.ended_at else None,
        },
    )
    before = {"verdict": None}
    after = {"verdict": summary["verdict"], "reasons": summary["reasons"]}
    audit.record(
        session,
        actor,
        f"shadow.{summary['verdict']}",
        "candidate",
        candidate.id,
        before=before,
        after=after,
    )


def _end(
    session: Session,
    candidate: Candidate,
    stage: Shadow,
    summary: dict[str, Any],
    *,
    now: datetime,
    actor: str,
    settings: Settings,
) -> None:
    """Freeze the verdict with its decision and audit; a fail also ends the candidate and tells the team."""
    stage.ended_at, stage.verdict, stage.summary = now, summary["verdict"], summary
    _record_verdict(session, candidate, stage, summary, actor=actor)
    if summary["verdict"] != "pass":
        registry.transition(
            session, candidate, Status.FAILED_PROMOTION, actor=actor, details={"shadow": summary["reasons"]}
        )
        _tell(session, settings, candidate, summary, now=now)


def _tell(
    session: Session, settings: Settings, candidate: Candidate, summary: dict, *, now: datetime
) -> None:
    notify.inform(
        session,
        settings,
        title=f"Shadow failed: {candidate.target.name} v{candidate.version}",
        lines=[
            *summary["reasons"],
            f"{summary['n']} records over {summary['hours']:.1f} h of shadow; the candidate is "
            "failed_promotion and gets no canary",
        ],
        source=f"shadow:{candidate.id}",
        now=now,
        sev="WARN",
    )


def conclude_due(
    db: Database,
    *,
    now: datetime,
    settings: Settings,
    actor: str,
    echo: Callable[[str], None] = print,
) -> list[str]:
    """Take every due verdict (the canary daemon's tick), each shadow in its own transaction."""
    with db.session() as session:
        open_ids = list(
            session.scalars(
                select(Shadow.candidate_id)
                .join(Candidate, Candidate.id == Shadow.candidate_id)
                .where(Shadow.ended_at.is_(None), Candidate.status == Status.SHADOW.value)
            )
        )
    ended = []
    for candidate_id in open_ids:
        with db.transaction() as session:
            taken = conclude_if_due(
                session, candidate_id=candidate_id, now=now, settings=settings, actor=actor
            )
        if taken:
            echo(f"[SHADOW] {candidate_id} {taken}")
            ended.append(f"{candidate_id}: {taken}")
    return ended


# --- reading ----------------------------------------------------------------------------------


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


def summary_of(session: Session, candidate: Candidate, *, now: datetime) -> dict[str, Any]:
    """The frozen summary of an ended shadow, or the live one (verdict pending until it is taken)."""
    stage = stage_of(session, candidate.id)
    head = {
        "candidate_id": str(candidate.id),
        "status": candidate.status,
        "started_at": stage.started_at.isoformat() if stage else None,
        "ended_at": stage.ended_at.isoformat() if stage and stage.ended_at else None,
    }
    if stage is not None and stage.summary is not None:
        return head | stage.summary
    policy = registry.policy_of(session, candidate.target).shadow
    elapsed = hours_between(stage.started_at, now) if stage else 0.0
    live = summarise(columns(session, candidate), policy, elapsed_hours=elapsed)
    if live["verdict"] != "pending":  # due but not yet taken: only conclude_if_due takes it
        live |= {"verdict": "pending", "reasons": [f"due: {live['verdict']} ({'; '.join(live['reasons'])})"]}
    if stage is None:
        live["reasons"] = ["shadow has not started"]
    return head | live
