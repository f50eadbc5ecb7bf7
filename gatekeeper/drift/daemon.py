"""``gatekeeper drift-daemon``: one pass computes every pending window of every target, decides which
kinds are in sustained drift, and opens, follows or resolves drift events with their triage.

A pass is idempotent: windows already stored are not recomputed and a live event of a kind is updated,
never duplicated (a partial unique index backs this up). Each target runs in its own transaction with
its reference row locked, so two daemons never compute the same target at once. Time is injected, so
tests and the demo replay weeks of traffic in seconds.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gatekeeper.clock import Clock, SystemClock
from gatekeeper.config import Settings
from gatekeeper.db import Database
from gatekeeper.drift import references as drift_references
from gatekeeper.drift import report as window_report
from gatekeeper.drift import windows as drift_windows
from gatekeeper.drift.models import KINDS, LIVE_STATUSES, DriftEvent, DriftReference, DriftResult
from gatekeeper.drift.sustain import SustainResult, SustainRule, Window
from gatekeeper.drift.triage import SafetyRegression, Triage, UpstreamChange, safety_regressions, triage
from gatekeeper.drift.windows import Cadence
from gatekeeper.errors import GatekeeperError
from gatekeeper.notify import service as notify
from gatekeeper.registry import audit
from gatekeeper.registry import service as registry
from gatekeeper.registry.models import Candidate, Decision, Target, TrainingRun
from gatekeeper.training import service as training

log = logging.getLogger("gatekeeper.drift")
ACTOR = "drift-hub"
UPSTREAM_LOOKBACK = timedelta(days=1)  # a promotion this long before the drift began still counts
MAX_LOOKBACK = timedelta(days=60)  # how far back the start of a sustained run is traced
RANK = {"none": 0, "review": 1, "retrain": 2, "retrain_now": 3}


@dataclass
class TargetPass:
    """What one pass did for one target (printed by the CLI, asserted by tests)."""

    target: str
    reference_id: int | None = None
    windows: int = 0
    opened: list[str] = field(default_factory=list)
    escalated: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    suppressed: list[str] = field(default_factory=list)
    retrains: list[str] = field(default_factory=list)
    pages: int = 0
    purged: tuple[int, int] = (0, 0)
    note: str | None = None


@dataclass(frozen=True)
class Signal:
    """One kind's state now: sustained (``active``), still beyond threshold (``holding``), since when."""

    kind: str
    active: bool
    holding: bool
    since: datetime | None
    figures: dict[str, Any]
    kl_retrain: bool = False


# --- signals ---------------------------------------------------------------------------------------


def _nan(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else math.nan


def _series(results: list[DriftResult], pick: Callable[[DriftResult], Any]) -> list[Window]:
    return [Window(r.window_start, r.window_end, _nan(pick(r)), r.n) for r in results]


def _latest_holds(series: list[Window], rule: SustainRule, now: datetime) -> bool:
    """Does the newest window that counts (enough samples, recent) still breach? Keeps an event open
    through a quiet night's small windows instead of resolving and re-opening it."""
    counting = [
        w
        for w in series
        if w.n >= rule.min_samples and math.isfinite(w.value) and w.window_end > now - rule.duration
    ]
    return bool(counting) and rule.holds(counting[-1].value)


def _headline(latest: DriftResult | None, rule: SustainRule, names: list[str]) -> dict[str, Any]:
    if latest is None:
        return {"threshold": rule.threshold, "signals": names}
    return {
        "value": latest.value,
        "threshold": rule.threshold,
        "n": latest.n,
        "window_start": latest.window_start.isoformat(),
        "window_end": latest.window_end.isoformat(),
        "signals": names,
        "latest": latest.figures,
    }


def _sustained(
    named: dict[str, list[Window]], rules: dict[str, SustainRule], now: datetime, stale: timedelta
) -> tuple[dict[str, SustainResult], list[str]]:
    evaluated = {name: rules[name].evaluate(ws, as_of=now, max_staleness=stale) for name, ws in named.items()}
    active = {name: res for name, res in evaluated.items() if res.active}
    holding = [name for name, ws in named.items() if _latest_holds(ws, rules[name], now)]
    return active, holding


def _signal(
    kind: str,
    results: list[DriftResult],
    named: dict[str, list[Window]],
    rules: dict[str, SustainRule],
    now: datetime,
    stale: timedelta,
    primary: SustainRule,
) -> Signal:
    active, holding = _sustained({k: v for k, v in named.items() if k != "kl_retrain"}, rules, now, stale)
    kl_retrain = "kl_retrain" in named and rules["kl_retrain"].evaluate(named["kl_retrain"], as_of=now).active
    since = min((res.since for res in active.values() if res.since), default=None)
    names = sorted(active) or holding
    return Signal(
        kind,
        bool(active),
        bool(holding),
        since,
        _headline(results[-1] if results else None, primary, names),
        kl_retrain,
    )


def signals(
    session: Session,
    *,
    ref: DriftReference,
    now: datetime,
    cadence: Cadence,
    trace: Collection[str] = KINDS,
) -> dict[str, Signal]:
    """The four kinds' sustained-alert state from the stored windows of this reference.

    For the kinds in ``trace`` (those without a live event, whose ``since`` would be new) a run that
    reaches the oldest window loaded is followed further back, so a new event's ``since`` is where the
    run really began (e.g. after a seasonal suppression ends); a live event keeps its own ``since``.
    """
    rules = drift_references.rules_of(ref)
    _, kl_alert, kl_retrain = drift_references.kl_levels(ref)
    out = {}
    for kind in KINDS:
        rule = rules[kind]
        length = cadence.fast if kind in drift_windows.FAST_KINDS else cadence.slow
        horizon = rule.duration + 2 * length
        while True:
            results = drift_windows.results_of(
                session, target_id=ref.target_id, kind=kind, since=now - horizon, reference_id=ref.id
            )
            named, kind_rules = _named_series(kind, results, rule, kl_alert, kl_retrain)
            signal = _signal(kind, results, named, kind_rules, now, length + cadence.settle, rule)
            # A run reaching back to the oldest window loaded may be older still: look further back.
            reaches = results and signal.since is not None and signal.since <= results[0].window_start
            if not reaches or kind not in trace or horizon >= MAX_LOOKBACK:
                break
            horizon *= 2
        out[kind] = signal
    return out


def _feature_psi(feature: str) -> Callable[[DriftResult], Any]:
    return lambda r: (r.figures.get("features") or {}).get(feature)


def _named_series(
    kind: str, results: list[DriftResult], rule: SustainRule, kl_alert: float, kl_retrain: float
) -> tuple[dict[str, list[Window]], dict[str, SustainRule]]:
    """Input: one series per feature (a run must be one feature's); prediction: KS and KL."""
    if kind == "input":
        features = sorted({f for r in results for f in (r.figures.get("features") or {})})
        named = {f: _series(results, _feature_psi(f)) for f in features}
        return named, dict.fromkeys(features, rule)
    if kind == "prediction":
        kl = _series(results, lambda r: r.figures.get("kl"))
        named = {"ks": _series(results, lambda r: r.value), "kl": kl, "kl_retrain": kl}
        rules = {
            "ks": rule,
            "kl": SustainRule(kl_alert, "above", rule.duration, rule.min_samples),
            "kl_retrain": SustainRule(kl_retrain, "above", rule.duration, rule.min_samples),
        }
        return named, rules
    return {kind: _series(results, lambda r: r.value)}, {kind: rule}


# --- triage inputs ---------------------------------------------------------------------------------


def upstream_changes(
    session: Session, *, target: Target, start: datetime, end: datetime
) -> list[UpstreamChange]:
    """Champion changes (promotions, rollbacks) of other targets recorded as decisions in [start, end]."""
    rows = session.execute(
        select(Decision.verdict, Decision.created_at, Candidate.id, Candidate.version, Target.name)
        .join(Candidate, Decision.candidate_id == Candidate.id)
        .join(Target, Candidate.target_id == Target.id)
        .where(
            Candidate.target_id != target.id,
            Decision.verdict.in_(("promote", "rollback")),
            Decision.created_at >= start,
            Decision.created_at <= end,
        )
        .order_by(Decision.created_at)
    )
    return [UpstreamChange(name, str(cid), version, verdict, at) for verdict, at, cid, version, name in rows]


def current_safety(
    session: Session, *, ref: DriftReference, now: datetime, cadence: Cadence
) -> list[SafetyRegression]:
    """Safety-critical classes regressed in the latest labelled window (at most two windows old)."""
    thr = ref.thresholds
    recent = drift_windows.results_of(
        session, target_id=ref.target_id, kind="concept", since=now - 2 * cadence.slow, reference_id=ref.id
    )
    current = (recent[-1].figures.get("classes") or {}) if recent else {}
    return safety_regressions(
        ref.class_metrics,
        current,
        classes=thr["safety_classes"],
        min_support=int(thr["safety_min_support"]),
        max_drop=float(thr["concept_delta_f1"]),
    )


# --- events ----------------------------------------------------------------------------------------


@dataclass
class _Pass:
    session: Session
    settings: Settings
    target: Target
    ref: DriftReference
    champion: Candidate
    now: datetime
    actor: str
    safety: list[SafetyRegression]
    out: TargetPass

    def decide(self, signal: Signal, since: datetime) -> Triage:
        upstream = upstream_changes(
            self.session, target=self.target, start=since - UPSTREAM_LOOKBACK, end=self.now
        )
        return triage(
            kind=signal.kind,
            sustained_for=self.now - since,
            upstream=upstream,
            safety=self.safety,
            kl_retrain=signal.kl_retrain,
        )

    def record(
        self, action: str, event: DriftEvent, before: dict[str, Any] | None, after: dict[str, Any]
    ) -> None:
        audit.record(self.session, self.actor, action, "drift_event", event.id, before=before, after=after)


def _live_event(session: Session, target_id: int, kind: str) -> DriftEvent | None:
    return session.scalar(
        select(DriftEvent)
        .where(
            DriftEvent.target_id == target_id, DriftEvent.kind == kind, DriftEvent.status.in_(LIVE_STATUSES)
        )
        .with_for_update()
    )


def _suppressed(session: Session, target_id: int, kind: str, now: datetime) -> bool:
    return (
        session.scalar(
            select(DriftEvent.id)
            .where(
                DriftEvent.target_id == target_id,
                DriftEvent.kind == kind,
                DriftEvent.seasonal.is_(True),
                DriftEvent.suppress_until > now,
            )
            .limit(1)
        )
        is not None
    )


def _open(ctx: _Pass, signal: Signal) -> None:
    assert signal.since is not None
    decision = ctx.decide(signal, signal.since)
    event = DriftEvent(
        target_id=ctx.target.id,
        reference_id=ctx.ref.id,
        kind=signal.kind,
        status="open",
        since=signal.since,
        opened_at=ctx.now,
        last_seen_at=ctx.now,
        figures=signal.figures,
        action=decision.action,
        reasons=list(decision.reasons),
        triage=decision.details,
    )
    ctx.session.add(event)
    ctx.session.flush()
    ctx.record(
        "drift.event.open",
        event,
        None,
        {
            "kind": event.kind,
            "since": event.since.isoformat(),
            "action": event.action,
            "reasons": event.reasons,
            "figures": {k: signal.figures.get(k) for k in ("value", "threshold", "n", "signals")},
        },
    )
    ctx.out.opened.append(str(event.id))
    _act(ctx, event, decision)


def _resolve(ctx: _Pass, event: DriftEvent) -> None:
    before = event.status
    event.status, event.resolved_at = "resolved", ctx.now
    ctx.record("drift.event.resolve", event, {"status": before}, {"status": "resolved"})
    ctx.out.resolved.append(str(event.id))


def _follow(ctx: _Pass, event: DriftEvent, signal: Signal) -> None:
    """Keep a live event current: resolve it, respect a seasonal acknowledgement, or re-triage."""
    if not (signal.active or signal.holding):
        _resolve(ctx, event)
        return
    event.last_seen_at, event.figures = ctx.now, signal.figures
    if event.seasonal and event.status == "acknowledged":
        if event.suppress_until is None or ctx.now < event.suppress_until:
            return
        event.status = "open"
        ctx.record("drift.event.suppression_expired", event, {"status": "acknowledged"}, {"status": "open"})
    decision = ctx.decide(signal, event.since)
    if RANK[decision.action] > RANK.get(event.action, 0):
        before = {"action": event.action}
        event.action, event.reasons, event.triage = decision.action, list(decision.reasons), decision.details
        ctx.record("drift.event.escalate", event, before, {"action": event.action, "reasons": event.reasons})
        ctx.out.escalated.append(str(event.id))
    if RANK[decision.action] >= RANK.get(event.action, 0):
        _act(ctx, event, decision)


def _act(ctx: _Pass, event: DriftEvent, decision: Triage) -> None:
    if decision.retrain and event.training_run_id is None and event.retrain_note is None:
        _queue_retrain(ctx, event)
    if decision.page and event.paged_at is None:
        _page(ctx, event, decision)


def snapshot_id(old: str, event_id: Any) -> str:
    """A new data snapshot id for a drift retrain: the champion's, marked with the event."""
    suffix = f"+drift-{str(event_id).replace('-', '')[:8]}"
    return old[: 200 - len(suffix)] + suffix


def _pending_retrain(session: Session, target_id: int, event_id: Any) -> Any:
    """A retrain another live drift event of this target queued and that has not finished yet."""
    return session.scalar(
        select(TrainingRun.id)
        .join(DriftEvent, DriftEvent.training_run_id == TrainingRun.id)
        .where(
            DriftEvent.target_id == target_id,
            DriftEvent.id != event_id,
            DriftEvent.status.in_(LIVE_STATUSES),
            TrainingRun.status.in_(("queued", "running")),
        )
        .limit(1)
    )


def _queue_retrain(ctx: _Pass, event: DriftEvent) -> None:
    """Queue the champion's training run again (same trainer and config) on a new data snapshot."""
    champion, run = ctx.champion, ctx.champion.training_run
    config = (run.params or {}).get("config") if run is not None else None
    if run is None or not isinstance(config, dict):
        event.retrain_note = (
            f"champion v{champion.version} has no training run with a config to repeat; retrain it by hand"
        )
        ctx.record("drift.retrain.unavailable", event, None, {"note": event.retrain_note})
        return
    shared = _pending_retrain(ctx.session, ctx.target.id, event.id)
    if shared is not None:  # one retrain answers every kind drifting at once
        event.training_run_id = shared
        ctx.record("drift.retrain.shared", event, None, {"training_run_id": str(shared)})
        return
    tags = {**champion.tags, "data_snapshot_id": snapshot_id(champion.data_snapshot_id, event.id)}
    try:
        with ctx.session.begin_nested():
            request = training.RunRequest(run.trainer, config, tags, bool(run.params.get("register", True)))
            new = training.create_run(
                ctx.session, request, actor=ctx.actor, settings=ctx.settings, enqueue=True
            )
    except GatekeeperError as exc:
        event.retrain_note = f"retrain not queued: {exc.detail}"
        ctx.record("drift.retrain.unavailable", event, None, {"note": event.retrain_note})
        return
    event.training_run_id = new.id
    after = {
        "training_run_id": str(new.id),
        "trainer": run.trainer,
        "data_snapshot_id": tags["data_snapshot_id"],
    }
    ctx.record("drift.retrain.queue", event, None, after)
    ctx.out.retrains.append(str(new.id))


def _page(ctx: _Pass, event: DriftEvent, decision: Triage) -> None:
    retrain = (
        f"retrain queued: training run {event.training_run_id}"
        if event.training_run_id
        else event.retrain_note
    )
    lines = [*decision.reasons, f"{event.kind} drift since {event.since:%Y-%m-%d %H:%M} UTC", retrain or ""]
    notify.page(
        ctx.session,
        ctx.settings,
        title=f"Drift on {ctx.target.name}: {event.kind}, retrain now",
        lines=[line for line in lines if line],
        dedup_key=f"drift:{event.id}",
        source=f"drift:{event.id}",
        component=ctx.target.name,
        details={
            "event_id": str(event.id),
            "kind": event.kind,
            "action": event.action,
            "since": event.since.isoformat(),
            "training_run_id": str(event.training_run_id) if event.training_run_id else None,
            "safety": decision.details.get("safety", []),
        },
        now=ctx.now,
        sev=decision.sev or "SEV-3",
    )
    event.paged_at = ctx.now
    ctx.record("drift.page", event, None, {"sev": decision.sev or "SEV-3", "at": ctx.now.isoformat()})
    ctx.out.pages += 1


def _apply(ctx: _Pass, signal: Signal) -> None:
    event = _live_event(ctx.session, ctx.target.id, signal.kind)
    if event is not None:
        _follow(ctx, event, signal)
    elif signal.active:
        if _suppressed(ctx.session, ctx.target.id, signal.kind, ctx.now):
            ctx.out.suppressed.append(signal.kind)
        else:
            _open(ctx, signal)


# --- the pass --------------------------------------------------------------------------------------


def _reference(
    session: Session, settings: Settings, target: Target, now: datetime, out: TargetPass
) -> DriftReference | None:
    """The champion's reference, built lazily when promotion did not (or could not) build it."""
    champion = registry.champion_of(session, target)
    if champion is None:
        out.note = "no champion yet"
        return None
    ref = drift_references.latest_reference(session, champion.id)
    if ref is not None:
        return ref
    try:
        with session.begin_nested():
            return drift_references.build_reference_for(
                session, candidate=champion, settings=settings, actor=ACTOR, now=now
            )
    except (GatekeeperError, ValueError) as exc:
        out.note = f"no drift reference for v{champion.version}: {getattr(exc, 'detail', exc)}"
        return None


def pass_target(
    session: Session,
    settings: Settings,
    *,
    target: Target,
    now: datetime,
    cadence: Cadence,
    actor: str = ACTOR,
) -> TargetPass:
    """Compute the pending windows of one target and bring its drift events up to date."""
    out = TargetPass(target.name)
    ref = _reference(session, settings, target, now, out)
    if ref is None:
        return out
    ref = session.get(DriftReference, ref.id, with_for_update=True, populate_existing=True)
    assert ref is not None
    out.reference_id = ref.id
    out.windows = len(drift_windows.compute_windows(session, ref=ref, now=now, cadence=cadence))
    champion = registry.get_candidate(session, ref.candidate_id)
    safety = current_safety(session, ref=ref, now=now, cadence=cadence)
    ctx = _Pass(session, settings, target, ref, champion, now, actor, safety, out)
    live = set(
        session.scalars(
            select(DriftEvent.kind).where(
                DriftEvent.target_id == target.id, DriftEvent.status.in_(LIVE_STATUSES)
            )
        )
    )
    trace = [k for k in KINDS if k not in live]
    for signal in signals(session, ref=ref, now=now, cadence=cadence, trace=trace).values():
        _apply(ctx, signal)
    out.purged = drift_windows.purge(session, target_id=target.id, now=now, cadence=cadence)
    return out


def run_pass(
    db: Database,
    settings: Settings,
    *,
    now: datetime,
    cadence: Cadence | None = None,
    targets: list[str] | None = None,
    report: bool = False,
) -> list[TargetPass]:
    """One pass over every target (or the named ones), each in its own transaction."""
    cadence = cadence or Cadence()
    with db.session() as session:
        names = [t.name for t in registry.list_targets(session) if not targets or t.name in targets]
    out = []
    for name in names:
        try:
            with db.transaction() as session:
                out.append(
                    pass_target(
                        session, settings, target=registry.get_target(session, name), now=now, cadence=cadence
                    )
                )
        except Exception as exc:  # one target's failure must not starve the others
            log.exception("drift pass failed for %s", name)
            out.append(TargetPass(name, note=f"failed: {type(exc).__name__}: {exc}"))
        if report and out[-1].windows:
            _render(db, settings, name)
    return out


def _render(db: Database, settings: Settings, target: str) -> None:
    try:
        with db.session() as session:
            window_report.render_report(session, settings, target_name=target)
    except (GatekeeperError, ValueError) as exc:
        log.warning("no drift report for %s: %s", target, getattr(exc, "detail", exc))


def run_forever(
    db: Database,
    settings: Settings,
    *,
    clock: Clock | None = None,
    interval: float = 300.0,
    cadence: Cadence | None = None,
    stop: threading.Event | None = None,
    echo: Callable[[str], None] = print,
    targets: list[str] | None = None,
    report: bool = False,
) -> None:
    """Run a pass every ``interval`` seconds until ``stop`` is set."""
    clock, stop = clock or SystemClock(), stop or threading.Event()
    while not stop.is_set():
        for result in run_pass(
            db, settings, now=clock.now(), cadence=cadence, targets=targets, report=report
        ):
            echo(describe(result))
        stop.wait(interval)


def describe(result: TargetPass) -> str:
    parts = [f"{result.target}: {result.windows} result(s)"]
    for name in ("opened", "escalated", "resolved", "suppressed", "retrains"):
        if getattr(result, name):
            parts.append(f"{name} {len(getattr(result, name))}")
    if result.pages:
        parts.append(f"paged {result.pages}")
    if result.note:
        parts.append(result.note)
    return "; ".join(parts)
