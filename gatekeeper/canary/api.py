"""Canary routes: what the serving layer posts and what on-call does."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, status
from pydantic import BaseModel
from sqlalchemy import select

from gatekeeper.api.deps import (
    CI,
    ActorDep,
    ClockDep,
    DatabaseDep,
    IdempotencyKey,
    Oncall,
    Reader,
    Serving,
    SessionDep,
    SettingsDep,
    TransactionalRoute,
)
from gatekeeper.canary import bake
from gatekeeper.canary import service as canaries
from gatekeeper.canary import windows as canary_windows
from gatekeeper.canary.models import Canary, DaemonLease, MetricWindow
from gatekeeper.canary.schemas import AbortIn, CanaryRead, DaemonRead, EvidenceRead, MetricBatch, ReenableIn
from gatekeeper.idempotency import service as idempotency
from gatekeeper.promotion import shadow
from gatekeeper.registry import service as registry

router = APIRouter(prefix="/v1", route_class=TransactionalRoute, tags=["shadow and canary"])


def canary_read(session: SessionDep, c: Canary, now: datetime) -> CanaryRead:
    candidate = registry.get_candidate(session, c.candidate_id)
    evidence = canaries.evidence_report(session, c, now=now)
    return CanaryRead(
        id=c.id,
        target=candidate.target.name,
        candidate_id=c.candidate_id,
        candidate_version=candidate.version,
        champion_id=c.champion_id,
        state=c.state,
        extended=c.extended,
        plan=c.plan,
        stage=c.stage,
        share=_share(c),
        stage_started_at=c.stage_started_at,
        stage_ends_at=canaries.stage_ends_at(c),
        armed_since=c.armed_since,
        baseline_start=c.baseline_start,
        started_at=c.started_at,
        aborted_at=c.aborted_at,
        finished_at=c.finished_at,
        promoted_at=c.promoted_at,
        bake_until=c.bake_until,
        trigger=c.trigger,
        reenables=c.reenables,
        windows=canary_windows.counts(session, c.id),
        evidence=EvidenceRead(**evidence) if evidence else None,
    )


def _share(c: Canary) -> float:
    """The candidate's traffic share now: its stage's while running, all of it while it bakes."""
    if c.state == "running":
        return float(c.plan[c.stage]["share"])
    return 1.0 if c.state == bake.BAKING else 0.0


@router.post("/candidates/{candidate_id}/canary", status_code=status.HTTP_201_CREATED)
def start_canary(
    candidate_id: str, db: DatabaseDep, session: SessionDep, clock: ClockDep, settings: SettingsDep, actor: CI
) -> CanaryRead:
    """Start the canary of a candidate whose shadow passed (a verdict due now is taken first)."""
    now = clock.now()
    shadow.conclude_one_due(db, candidate_id=candidate_id, now=now, settings=settings)
    return canary_read(
        session,
        canaries.start(session, candidate_id=candidate_id, actor=actor.name, now=now, settings=settings),
        now,
    )


@router.get("/canaries/{canary_id}")
def get_canary(canary_id: str, session: SessionDep, clock: ClockDep, _: Reader) -> CanaryRead:
    return canary_read(session, canaries.get(session, canary_id), clock.now())


@router.get("/targets/{target}/canaries")
def list_canaries(target: str, session: SessionDep, clock: ClockDep, _: Reader) -> list[CanaryRead]:
    return [canary_read(session, c, clock.now()) for c in canaries.of_target(session, target)]


@router.post("/canaries/{canary_id}/metrics")
def post_metrics(
    canary_id: str,
    body: MetricBatch,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    actor: Serving,
) -> dict[str, Any]:
    """5-minute windows for canary, holdout and baseline, append-only: a window sent again with the same
    figures is counted as ``unchanged``, with other figures the whole batch is refused (409, audited)."""
    return canaries.record_windows(
        session,
        canary_id=canary_id,
        windows=body.windows,
        actor=actor.name,
        now=clock.now(),
        skew_s=settings.evidence_skew_seconds,
    )


@router.get("/canaries/{canary_id}/windows")
def get_windows(
    canary_id: str,
    session: SessionDep,
    _: Reader,
    group: Literal["canary", "holdout", "baseline"] | None = None,
    limit: Annotated[int, Query(ge=1, le=20_000)] = 5000,
) -> list[dict[str, Any]]:
    """The stored windows; each canary window carries the ``thresholds`` it is judged against (``judged``,
    ``error_rate``, ``latency_p99_ms``, ``safety``: per metric the σ and the floor), drawn by the console."""
    canary = canaries.get(session, canary_id)
    stmt = (
        select(MetricWindow)
        .where(MetricWindow.canary_id == canary.id)
        .order_by(MetricWindow.start_s)
        .limit(limit)
    )
    if group:
        stmt = stmt.where(MetricWindow.grp == group)
    judged = canaries.window_thresholds(session, canary) if group in (None, "canary") else {}
    return [
        {
            "group": w.grp,
            "start_s": w.start_s,
            "end_s": w.end_s,
            "requests": w.requests,
            "errors": w.errors,
            "latency_p99_ms": w.latency_p99_ms,
            "safety": w.safety,
            "exceptions": w.exceptions,
            **({"thresholds": judged.get(w.start_s)} if w.grp == "canary" else {}),
        }
        for w in session.scalars(stmt)
    ]


def _on_call_change(
    session: SessionDep,
    path: str,
    body: BaseModel,
    change: Callable[[datetime], Canary],
    *,
    actor: str,
    key: str | None,
    clock: ClockDep,
) -> Any:
    """Run an on-call change (``{canary_id}/abort``, ``{canary_id}/reenable``) of a canary once per
    ``Idempotency-Key``: a retry replays the first answer."""
    now = clock.now()
    return idempotency.once(
        session,
        actor=actor,
        key=key,
        route=f"POST /v1/canaries/{path}",
        body=body.model_dump(mode="json"),
        change=lambda: canary_read(session, change(now), now).model_dump(mode="json"),
    )


@router.get("/canaries/{canary_id}/sequential")
def get_sequential(canary_id: str, session: SessionDep, _: Reader) -> dict[str, Any]:
    """The anytime-valid tests since the canary was armed: per effect (error ratio, exception ratio, p99
    ratio, each safety metric) the always-valid p-value and the confidence sequence, e.g. error ratio in
    [1.4, 3.1] at 98.75 % (alpha split over the tests)."""
    return canaries.sequential_report(session, canaries.get(session, canary_id))


@router.post("/canaries/{canary_id}/abort")
def abort_canary(
    canary_id: str,
    body: AbortIn,
    session: SessionDep,
    clock: ClockDep,
    actor: Oncall,
    key: IdempotencyKey = None,
) -> CanaryRead:
    """End a canary for good (the candidate becomes failed_promotion); routing stays on the champion."""

    def change(now: datetime) -> Canary:
        return canaries.manual_abort(
            session, canary_id=canary_id, reason=body.reason, actor=actor.name, now=now
        )

    return _on_call_change(
        session, f"{canary_id}/abort", body, change, actor=actor.name, key=key, clock=clock
    )


@router.post("/canaries/{canary_id}/reenable")
def reenable_canary(
    canary_id: str,
    body: ReenableIn,
    session: SessionDep,
    clock: ClockDep,
    actor: Oncall,
    key: IdempotencyKey = None,
) -> CanaryRead:
    """Resume an aborted canary if its trigger no longer fires against the pre-canary baseline (409 with the
    figures otherwise). ``force`` skips the check: admin only, audited as an override."""

    def change(now: datetime) -> Canary:
        return canaries.reenable(
            session, canary_id=canary_id, reason=body.reason, force=body.force, actor=actor, now=now
        )

    return _on_call_change(
        session, f"{canary_id}/reenable", body, change, actor=actor.name, key=key, clock=clock
    )


@router.get("/daemon")
def daemon_status(session: SessionDep, clock: ClockDep, _: ActorDep) -> DaemonRead:
    """Who leads the canary daemon and when it last ticked."""
    lease = session.get(DaemonLease, "canary-daemon")
    if lease is None:
        return DaemonRead(leader=None, heartbeat_at=None, age_seconds=None)
    return DaemonRead(
        leader=lease.holder,
        acquired_at=lease.acquired_at,
        heartbeat_at=lease.heartbeat_at,
        ticks=lease.ticks,
        age_seconds=(clock.now() - lease.heartbeat_at).total_seconds(),
    )
