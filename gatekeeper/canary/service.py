"""Canary plans and stages: start, advance, promote at the end, abort (automatically or by on-call),
and re-enable after the baseline check. Every change is one transaction with its decision and audit."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gatekeeper.canary import audit as canary_audit
from gatekeeper.canary import bake
from gatekeeper.canary import rules as abort_rules
from gatekeeper.canary import windows as canary_windows
from gatekeeper.canary.models import Canary
from gatekeeper.canary.schemas import MetricWindowIn
from gatekeeper.config import Settings
from gatekeeper.db import get_by_id
from gatekeeper.drift import references as drift_references
from gatekeeper.errors import Conflict
from gatekeeper.policy.schema import Policy
from gatekeeper.promotion import shadow
from gatekeeper.registry import service as registry
from gatekeeper.registry.auth import Actor, Role
from gatekeeper.registry.models import Candidate, Decision
from gatekeeper.registry.states import Status

LIVE = ("running", "aborted")
# The states in which metric windows are taken: evidence comes only while the rules judge it. Aborted
# and finished canaries refuse windows (409), so a judged period cannot be rewritten or padded.
ACCEPTS_WINDOWS = ("running", bake.BAKING)  # a baking champion is still judged
BASELINE = timedelta(hours=1)


def get(session: Session, canary_id: str | uuid.UUID, *, lock: bool = False) -> Canary:
    return get_by_id(session, Canary, canary_id, what="canary", field="canary_id", lock=lock)


def stage_ends_at(canary: Canary) -> datetime:
    return canary.stage_started_at + timedelta(days=float(canary.plan[canary.stage]["days"]))


def plan_for(policy: Policy, extended: bool) -> list[dict[str, Any]]:
    """The stages pinned on the canary (a stage's evidence override travels with it)."""
    if extended:
        ext = policy.correlation.extended_canary
        return [{"share": ext.share, "days": ext.days}]
    return [s.model_dump(exclude_none=True) for s in policy.canary.stages]


def rules_of(policy: Policy) -> abort_rules.AbortRules:
    return abort_rules.AbortRules.from_policy(policy.abort_rules, policy.canary.safety_metrics)


def judged_since(canary: Canary) -> datetime:
    """Where the period now judged starts: the current stage's start, or the re-arm instant when on-call
    re-enabled during this stage. A stage's evidence counts from here, and a canary or holdout window may
    not start earlier (less the skew). Windows of an earlier stage, or of the period
    a trigger was judged on, are refused: once judged, a period takes no late data. A baking champion's
    windows start at its promotion."""
    return max(canary.stage_started_at, canary.armed_since, canary.promoted_at or canary.armed_since)


def deadline_of(canary: Canary, policy: Policy) -> datetime:
    """Past this, a stage still short of evidence is aborted as insufficient_evidence."""
    return stage_ends_at(canary) + timedelta(hours=policy.canary.progress_deadline_hours)


def evidence_for(
    arrays: abort_rules.WindowArrays,
    policy: Policy,
    *,
    stage: Mapping[str, Any],
    since: datetime,
    now: datetime,
) -> abort_rules.Evidence:
    """A stage's evidence from these windows, against the stage's own need or the derived one."""
    return abort_rules.stage_evidence(
        arrays,
        rules_of(policy),
        since=since,
        until=now,
        power=policy.canary.evidence_power,
        min_windows=stage.get("min_windows"),
        min_requests=stage.get("min_requests"),
    )


def stage_evidence(
    canary: Canary, arrays: abort_rules.WindowArrays, policy: Policy, *, now: datetime
) -> abort_rules.Evidence:
    """The current stage's evidence."""
    stage = canary.plan[canary.stage]
    return evidence_for(arrays, policy, stage=stage, since=judged_since(canary), now=now)


def window_thresholds(session: Session, canary: Canary) -> dict[int, dict[str, Any]]:
    """The thresholds each canary window is judged against, by start (the windows route returns them)."""
    policy = registry.policy_of(session, canary_target(session, canary))
    arrays = canary_windows.load(session, [canary.id], policy.canary.safety_metrics)[canary.id]
    return abort_rules.window_thresholds(arrays, rules_of(policy))


def sequential_report(session: Session, canary: Canary) -> dict[str, Any]:
    """The anytime-valid tests over the windows judged since the canary was armed: per effect the e-value,
    always-valid p-value, estimate and confidence sequence (shown even where the policy runs the seed
    rules only: ``aborts`` says whether they can abort this canary)."""
    policy = registry.policy_of(session, canary_target(session, canary))
    since = int(canary.armed_since.timestamp())
    arrays = canary_windows.load(session, [canary.id], policy.canary.safety_metrics, since_s=since)[canary.id]
    rules = rules_of(policy)
    return {
        "rules": rules.rules,
        "aborts": rules.rules != "seed",
        "since": canary.armed_since,
        "settings": rules.sequential.model_dump(mode="json"),
        "effects": abort_rules.confidence(arrays, rules),
    }


def evidence_report(session: Session, canary: Canary, *, now: datetime) -> dict[str, Any] | None:
    """Have/need, starved and the deadline of a running canary's stage (the API and console show it)."""
    if canary.state != "running":
        return None
    policy = registry.policy_of(session, canary_target(session, canary))
    since = judged_since(canary)
    arrays = canary_windows.load(session, [canary.id], (), since_s=int(since.timestamp()))[canary.id]
    found = stage_evidence(canary, arrays, policy, now=now)
    due = now >= stage_ends_at(canary)
    return {
        **found.to_dict(),
        "since": since,
        "due": due,
        "starved": due and not found.enough,
        "deadline": deadline_of(canary, policy),
    }


def _offline_decision(session: Session, candidate: Candidate) -> Decision | None:
    return session.scalar(
        select(Decision)
        .where(Decision.candidate_id == candidate.id, Decision.stage == "offline")
        .order_by(Decision.created_at.desc())
        .limit(1)
    )


def _refuse_while_baking(session: Session, target_id: int) -> None:
    """One rollout at a time: a champion still baking may yet roll back to the model it replaced."""
    baking = session.scalar(select(Canary).where(Canary.target_id == target_id, Canary.state == bake.BAKING))
    if baking is not None:
        raise Conflict(
            f"the champion is still baking until {baking.bake_until:%Y-%m-%d %H:%M} UTC; "
            "a new canary can start once its bake has passed",
            canary_id=str(baking.id),
            bake_until=baking.bake_until.isoformat() if baking.bake_until else None,
        )


def start(session: Session, *, candidate_id: str, actor: str, now: datetime, settings: Settings) -> Canary:
    """shadow (passed) -> canary at the first stage; extended when the offline decision says so."""
    candidate = _passed_shadow(session, candidate_id, now=now, settings=settings)
    target = registry.get_target(session, candidate.target.name, lock=True)
    _refuse_while_baking(session, target.id)
    champion = registry.champion_of(session, target)
    offline = _offline_decision(session, candidate)
    policy = registry.policy_of(session, target)
    extended = bool(policy.always_extended_canary or (offline and offline.details.get("extended_canary")))
    canary = Canary(
        target_id=target.id,
        candidate_id=candidate.id,
        champion_id=champion.id if champion else None,
        state="running",
        extended=extended,
        plan=plan_for(policy, extended),
        stage=0,
        stage_started_at=now,
        armed_since=now,
        baseline_start=now - BASELINE,
        started_at=now,
        created_by=actor,
    )
    session.add(canary)
    session.flush()
    registry.transition(session, candidate, Status.CANARY, actor=actor, details={"canary_id": str(canary.id)})
    reason = offline.details.get("extended_reason") if offline else None
    canary_audit.record(
        session,
        canary,
        "canary.start",
        actor=actor,
        after={"plan": canary.plan, "extended": extended, "reason": reason},
    )
    return canary


def _passed_shadow(session: Session, candidate_id: str, *, now: datetime, settings: Settings) -> Candidate:
    """The candidate, locked, once its shadow has passed (a verdict due now is taken first); 409 else."""
    shadow.conclude_if_due(
        session, candidate_id=candidate_id, now=now, settings=settings, actor=shadow.SYSTEM
    )
    candidate = registry.get_candidate(session, candidate_id, lock=True)
    if candidate.status != Status.SHADOW.value:
        raise Conflict(
            f"candidate is {candidate.status}; a canary needs a passed gate and a passed shadow",
            current_status=candidate.status,
        )
    summary = shadow.summary_of(session, candidate, now=now)
    if summary["verdict"] != "pass":
        raise Conflict(
            f"shadow has not passed ({summary['verdict']}): {'; '.join(summary['reasons'])}",
            current_status=candidate.status,
            shadow=summary,
        )
    return candidate


def _advance(session: Session, canary: Canary, *, actor: str, at: datetime, settings: Settings | None) -> str:
    """The stage passed at ``at`` (its end, or later when its evidence came later): next stage or promote."""
    if canary.stage + 1 < len(canary.plan):
        canary.stage += 1
        canary.stage_started_at = at  # the next stage starts exactly when the last one passed
        registry.bump_routing(session, canary.target_id)
        canary_audit.record(
            session,
            canary,
            "canary.stage",
            actor=actor,
            before={"stage": canary.stage - 1},
            after={"stage": canary.stage, "share": canary.plan[canary.stage]["share"]},
        )
        return f"stage {canary.stage + 1}/{len(canary.plan)} at {canary.plan[canary.stage]['share']:.0%}"
    promote(session, canary, actor=actor, at=at, settings=settings)
    return "promoted to champion"


def promote(
    session: Session, canary: Canary, *, actor: str, at: datetime, settings: Settings | None = None
) -> Candidate:
    """The last stage passed: candidate -> champion, old champion -> retired, in one transaction. With a
    bake (``canary.bake_hours``) the canary is ``baking`` until ``bake_until``, else ``passed`` now."""
    candidate = registry.get_candidate(session, canary.candidate_id, lock=True)
    target = registry.get_target(session, candidate.target.name, lock=True)
    old = registry.champion_of(session, target)
    if old is not None:
        registry.transition(
            session,
            registry.get_candidate(session, old.id, lock=True),
            Status.RETIRED,
            actor=actor,
            details={"replaced_by": str(candidate.id)},
        )
    registry.transition(
        session, candidate, Status.CHAMPION, actor=actor, details={"canary_id": str(canary.id)}
    )
    hours = registry.policy_of(session, target).canary.bake_hours
    canary.promoted_at, canary.bake_until = at, bake.bake_until(hours, at, has_previous=old is not None)
    canary.state = bake.BAKING if canary.bake_until else "passed"
    canary.finished_at = None if canary.bake_until else at
    details = {"canary_id": str(canary.id), "plan": canary.plan, "replaced": str(old.id) if old else None}
    details["bake_until"] = canary.bake_until.isoformat() if canary.bake_until else None
    registry.record_decision(
        session, candidate=candidate, stage="full", verdict="promote", actor=actor, details=details
    )
    canary_audit.record(
        session,
        canary,
        "canary.bake" if canary.bake_until else "canary.pass",
        actor=actor,
        before={"state": "running"},
        after={"state": canary.state, "bake_until": details["bake_until"]},
    )
    if settings is not None:
        drift_references.on_promoted(session, candidate=candidate, settings=settings)
    return candidate


EvidenceOf = Callable[[Canary], abort_rules.Evidence]


def advance_if_due(
    session: Session,
    canary: Canary,
    *,
    now: datetime,
    actor: str,
    evidence_of: EvidenceOf,
    policy: Policy,
    settings: Settings,
) -> str | None:
    """A stage whose time is up passes only with enough evidence; short of it, it is held at its share
    until the progress deadline, then aborted as insufficient_evidence (possibly several stages at once)."""
    moved = None
    while canary.state == "running" and now >= stage_ends_at(canary):
        found = evidence_of(canary)
        if found.met_at is not None:
            at = max(stage_ends_at(canary), found.met_at)
            moved = _advance(session, canary, actor=actor, at=at, settings=settings)
        elif now >= deadline_of(canary, policy):
            trigger = insufficient_evidence(canary, found, deadline=deadline_of(canary, policy))
            abort(session, canary, trigger=trigger, actor=actor, now=now, settings=settings)
            return f"aborted: {INSUFFICIENT}"
        else:
            return moved or "held: starved"
    return moved


INSUFFICIENT = "insufficient_evidence"


def insufficient_evidence(
    canary: Canary, found: abort_rules.Evidence, *, deadline: datetime
) -> abort_rules.Trigger:
    """The trigger of a stage that reached its progress deadline short of evidence (no windows judged)."""
    figures = {
        **found.to_dict(),
        "stage": canary.stage,
        "share": canary.plan[canary.stage]["share"],
        "since": judged_since(canary).isoformat(),
        "stage_ends_at": stage_ends_at(canary).isoformat(),
        "deadline": deadline.isoformat(),
    }
    return abort_rules.Trigger(INSUFFICIENT, None, (), figures, deadline)


def abort(
    session: Session,
    canary: Canary,
    *,
    trigger: abort_rules.Trigger,
    actor: str,
    now: datetime,
    settings: Settings,
    began: float | None = None,
) -> None:
    """Auto-abort: routing back to the champion, decision, audit and page, all in one transaction. The
    rollback is timed against the target's SLA from ``began`` (when the daemon started judging it)."""
    began = time.perf_counter() if began is None else began
    candidate = registry.get_candidate(session, canary.candidate_id, lock=True)
    figures = trigger.to_dict()
    canary.state, canary.aborted_at, canary.trigger = "aborted", now, figures
    registry.transition(session, candidate, Status.ABORTED, actor=actor, details={"rule": trigger.rule})
    timing, late = registry.rollback_timing(
        time.perf_counter() - began, candidate.target.rollback_sla_seconds, measured_from="daemon_judging"
    )
    _record_abort(session, canary, candidate, trigger, actor=actor, timing=timing, late=late)
    canary_audit.record(
        session,
        canary,
        "canary.abort",
        actor=actor,
        before={"state": "running"},
        after={"state": "aborted", "rule": trigger.rule},
    )
    _page_abort(session, settings, canary, candidate, trigger, now=now)


def _record_abort(
    session: Session,
    canary: Canary,
    candidate: Candidate,
    trigger: abort_rules.Trigger,
    *,
    actor: str,
    timing: dict[str, Any],
    late: list[dict[str, Any]],
) -> None:
    """The canary's abort decision: the rule that fired, in words, and the rollback's timing."""
    reason = registry.failed_check(
        f"canary.{trigger.rule}", trigger.metric or trigger.rule, _describe(trigger)
    )
    details = {
        "canary_id": str(canary.id),
        "trigger": canary.trigger,
        "stage": canary.stage,
        "rollback": timing,
    }
    canary_audit.decide(session, candidate, "canary", "abort", actor, [reason, *late], details)


def _page_abort(
    session: Session,
    settings: Settings,
    canary: Canary,
    candidate: Candidate,
    trigger: abort_rules.Trigger,
    *,
    now: datetime,
) -> None:
    """Page on-call: what fired, where the rollout stood, and what to do next."""
    stage = f"stage {canary.stage + 1}/{len(canary.plan)} ({canary.plan[canary.stage]['share']:.0%})"
    canary_audit.page(
        session,
        settings,
        canary,
        candidate,
        title=f"Canary auto-abort: {candidate.target.name} v{candidate.version}",
        lines=[_describe(trigger), f"{stage}; traffic is back on the champion", _next_step(canary, trigger)],
        dedup_key=f"gatekeeper-canary-{canary.id}-{int(now.timestamp())}",
        details={
            "rule": trigger.rule,
            "canary_id": str(canary.id),
            "candidate_id": str(candidate.id),
            "figures": canary.trigger,
        },
        now=now,
    )


def _next_step(canary: Canary, trigger: abort_rules.Trigger) -> str:
    if trigger.rule == INSUFFICIENT:
        return "no rule fired, so there is nothing to re-check: start a new canary when it can get traffic"
    return f"re-enable after the baseline check: POST /v1/canaries/{canary.id}/reenable"


def _describe_starved(f: dict[str, Any]) -> str:
    """What evidence was missing at the deadline: have against need, windows and requests."""
    need_r = f["need_requests"]
    requests = (
        f"{f['canary_requests']:,} of {need_r:,}"
        if need_r is not None
        else (f"{f['canary_requests']:,} of an unknown number (no holdout evidence)")
    )
    return (
        f"{INSUFFICIENT}: stage {f['stage'] + 1} ({f['share']:.0%}) reached its progress deadline with "
        f"{f['windows_evaluable']} of {f['need_windows']} evaluable windows and {requests} canary "
        f"requests ({f['windows_received']} windows received)"
    )


def _describe(trigger: abort_rules.Trigger) -> str:
    """One line an on-call engineer can act on: the rule, the latest window's figures, for how long."""
    f = trigger.figures
    if trigger.rule == INSUFFICIENT:
        return _describe_starved(f)
    if trigger.rule == "sequential":
        return f"sequential: {abort_rules.describe_sequential(trigger.metric or '', f)}"
    last = (f.get("windows") or [f])[-1]
    span = f.get("span_minutes")
    if trigger.rule == "error_rate":
        what = (
            f"canary error rate {last['canary_rate']:.2%} vs holdout {last['holdout_rate']:.2%} "
            f"({last['ratio']:.1f}x)"
        )
    elif trigger.rule == "latency_p99":
        what = f"canary p99 {last['canary_p99_ms']:.0f} ms vs holdout {last['holdout_p99_ms']:.0f} ms"
    elif trigger.rule == "safety":
        what = (
            f"{trigger.metric} {last['canary']:.4f} vs holdout {last['holdout']:.4f} "
            f"({last['deficit_sigmas']:.1f} sigma below)"
        )
    else:
        what = (
            f"exception {trigger.metric}: canary rate {last['canary_rate']:.3%} vs holdout "
            f"{last['holdout_rate']:.3%}"
        )
    return f"{trigger.rule}: {what} for {span:.0f} min" if span else f"{trigger.rule}: {what}"


def manual_abort(session: Session, *, canary_id: str, reason: str, actor: str, now: datetime) -> Canary:
    """On-call ends a canary for good: the candidate becomes failed_promotion."""
    canary = get(session, canary_id, lock=True)
    if canary.state not in LIVE:
        raise Conflict(
            f"canary is {canary.state}; only a running or aborted canary can be aborted",
            current_state=canary.state,
        )
    candidate = registry.get_candidate(session, canary.candidate_id, lock=True)
    before = canary.state
    canary.state, canary.finished_at = "failed", now
    registry.transition(session, candidate, Status.FAILED_PROMOTION, actor=actor, note=reason)
    manual = registry.failed_check("canary.manual_abort", "manual", reason)
    canary_audit.decide(session, candidate, "canary", "abort", actor, [manual], {"canary_id": str(canary.id)})
    canary_audit.record(
        session,
        canary,
        "canary.manual_abort",
        actor=actor,
        before={"state": before},
        after={"state": "failed"},
        note=reason,
    )
    return canary


def _resume(
    session: Session,
    canary: Canary,
    *,
    actor: str,
    now: datetime,
    verdict_details: dict[str, Any],
    action: str,
    reason: str,
) -> Canary:
    candidate = registry.get_candidate(session, canary.candidate_id, lock=True)
    _rearm(canary, now)
    registry.transition(session, candidate, Status.CANARY, actor=actor, note=reason)
    registry.record_decision(
        session,
        candidate=candidate,
        stage="canary",
        verdict="reenable",
        actor=actor,
        reasons=[
            {"check": action, "metric": "recheck", "severity": "info", "passed": True, "message": reason}
        ],
        details={"canary_id": str(canary.id), **verdict_details},
    )
    canary_audit.record(
        session,
        canary,
        action,
        actor=actor,
        before={"state": "aborted"},
        after={"state": "running", **verdict_details},
        note=reason,
    )
    return canary


def _rearm(canary: Canary, now: datetime) -> None:
    """Running again from ``now``: the stage keeps its full observation time (the pause is added), or
    starts over after an abort for insufficient evidence (else the next tick aborts again)."""
    paused = now - (canary.aborted_at or now)
    starved = (canary.trigger or {}).get("rule") == INSUFFICIENT
    canary.state, canary.armed_since = "running", now
    if starved:
        canary.stage_started_at = now
    else:
        canary.stage_started_at += paused
    canary.aborted_at, canary.reenables = None, canary.reenables + 1


def record_windows(
    session: Session,
    *,
    canary_id: str,
    windows: Sequence[MetricWindowIn],
    actor: str,
    now: datetime,
    skew_s: int,
) -> dict[str, int]:
    """Append metric windows to a running canary (append-only; times checked against the server clock)."""
    canary = get(session, canary_id, lock=True)  # serialises with an abort or stage change
    if canary.state not in ACCEPTS_WINDOWS:
        canary_windows.refuse_rewrites(session, canary.id, windows, actor=actor)  # a rewrite is audited
        raise Conflict(
            f"canary is {canary.state}; metric windows are taken only while it is "
            f"{' or '.join(ACCEPTS_WINDOWS)}",
            current_state=canary.state,
        )
    bounds = canary_windows.Bounds(
        since_s=int(judged_since(canary).timestamp()),
        now_s=int(now.timestamp()),
        skew_s=skew_s,
        baseline_from_s=int((canary.started_at - BASELINE).timestamp()),
        baseline_to_s=int(canary.started_at.timestamp()),
    )
    return canary_windows.append(session, canary.id, windows, bounds=bounds, actor=actor, now=now)


def _recorded_trigger(canary: Canary) -> abort_rules.Trigger:
    """The stored trigger, if it carries the windows its rule fired on. An abort stored before they were
    recorded is not re-checked on re-read windows (they may have been rewritten then): 409, force only."""
    trigger = abort_rules.Trigger.from_dict(canary.trigger or {})
    if not trigger.recorded:
        raise Conflict(
            "this abort was stored without the canary windows its rule fired on (before they were "
            "recorded with the trigger), so it cannot be re-checked; an admin may re-enable with force "
            "after checking the figures by hand",
            rule=trigger.rule,
            recorded=False,
        )
    return trigger


def reenable(
    session: Session, *, canary_id: str, reason: str, force: bool, actor: Actor, now: datetime
) -> Canary:
    """Re-run the triggering rule against the pre-canary baseline; resume only if it no longer fires."""
    canary = _reenableable(session, canary_id, force=force)
    if force:
        actor.require(Role.ADMIN)
        return _resume(
            session,
            canary,
            actor=actor.name,
            now=now,
            verdict_details={"override": True},
            action="canary.reenable_override",
            reason=reason,
        )
    trigger = _recorded_trigger(canary)
    recheck = _recheck(session, canary, trigger)
    if recheck.fires:
        raise Conflict(
            f"the {trigger.rule} rule still fires against the pre-canary baseline: {recheck.reason}",
            rule=trigger.rule,
            figures=recheck.figures,
        )
    return _resume(
        session,
        canary,
        actor=actor.name,
        now=now,
        action="canary.reenable",
        reason=reason,
        verdict_details={"recheck": {"fires": False, "reason": recheck.reason, "figures": recheck.figures}},
    )


def _reenableable(session: Session, canary_id: str, *, force: bool) -> Canary:
    """The canary, locked, if it may be re-enabled: aborted by a rule (or forced past a starved stage)."""
    canary = get(session, canary_id, lock=True)
    if canary.state != "aborted" or not canary.trigger:
        raise Conflict(
            f"canary is {canary.state}; only an aborted canary can be re-enabled", current_state=canary.state
        )
    if canary.trigger.get("rule") == INSUFFICIENT and not force:
        raise Conflict(
            "the canary was aborted for insufficient evidence: no rule fired, so there is nothing to "
            "re-check against the baseline; start a new canary (an admin may force a re-enable)",
            rule=INSUFFICIENT,
            figures=canary.trigger.get("figures"),
        )
    return canary


def _recheck(session: Session, canary: Canary, trigger: abort_rules.Trigger) -> abort_rules.Recheck:
    """The trigger's rule against the pre-canary baseline (NoBaseline -> 409). The canary figures are the
    trigger's recorded ones; only the baseline is read here."""
    policy = registry.policy_of(session, canary_target(session, canary))
    arrays = canary_windows.load(session, [canary.id], policy.canary.safety_metrics)[canary.id]
    return abort_rules.recheck_against_baseline(trigger, arrays.baseline, rules_of(policy))


def canary_target(session: Session, canary: Canary) -> Any:
    return registry.get_candidate(session, canary.candidate_id).target


def of_target(session: Session, target_name: str) -> list[Canary]:
    target = registry.get_target(session, target_name)
    return list(
        session.scalars(
            select(Canary).where(Canary.target_id == target.id).order_by(Canary.started_at.desc())
        )
    )
