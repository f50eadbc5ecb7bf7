"""The bake after full promotion (DESIGN §8): for ``canary.bake_hours`` the new champion's windows are
judged against the old champion's holdout windows of the day before promotion (matched by time of day),
with the same abort rules, while
the previous champion is kept warm (routing role ``previous``, weight 0). A breach rolls back to the
previous champion automatically; a bake without evidence never passes: it rolls back too.

States of the canary: ``baking`` from promotion until ``bake_until``, then ``passed`` or ``rolled_back``.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gatekeeper.canary import audit as canary_audit
from gatekeeper.canary import rules as abort_rules
from gatekeeper.canary.models import Canary
from gatekeeper.canary.rules import sequential as sequential_rule
from gatekeeper.config import Settings
from gatekeeper.db import Database, get_by_id
from gatekeeper.errors import Conflict
from gatekeeper.registry import service as registry
from gatekeeper.registry.models import Candidate, Target
from gatekeeper.registry.states import Status

BAKING = "baking"
ROLLED_BACK = "rolled_back"
RulesFor = Callable[[Session, Target], abort_rules.AbortRules]  # a target's abort rules, from its policy
REFERENCE = timedelta(days=1)  # the old champion's holdout windows of the day before promotion
_HOUR_S = 3600


# --- pure decisions ---------------------------------------------------------------------------


def bake_until(hours: float, promoted_at: datetime, *, has_previous: bool) -> datetime | None:
    """When the bake ends; None when there is none (0 hours, or no previous champion to fall back to)."""
    if hours <= 0 or not has_previous:
        return None
    return promoted_at + timedelta(hours=hours)


def uncovered_hours(evaluable_starts: Sequence[int], start_s: int, until_s: int) -> list[int]:
    """Hours of the bake (0-based) without one evaluable window: thin or late data is not evidence."""
    covered = {(s - start_s) // _HOUR_S for s in evaluable_starts if start_s <= s < until_s}
    return [h for h in range(math.ceil((until_s - start_s) / _HOUR_S)) if h not in covered]


@dataclass(frozen=True)
class Verdict:
    """What the bake says now: ``continue``, ``pass``, ``breach`` or ``no_evidence``."""

    outcome: str
    trigger: abort_rules.Trigger | None = None
    missing: str | None = None


def judge(
    canary: abort_rules.GroupArrays,
    reference: abort_rules.GroupArrays,
    rules: abort_rules.AbortRules,
    *,
    start_s: int,
    until_s: int,
    due: bool,
) -> Verdict:
    """A breach rolls back at once; at the end, any bake hour without an evaluable window does too."""
    found = abort_rules.against_reference(canary, reference, rules, start_s=start_s, until_s=until_s)
    if found.triggers:
        return Verdict("breach", trigger=found.triggers[0])
    if not due:
        return Verdict("continue")
    gaps = uncovered_hours(found.evaluable_starts.tolist(), start_s, until_s)
    if gaps:
        hours = ", ".join(str(h + 1) for h in gaps[:10]) + (" ..." if len(gaps) > 10 else "")
        missing = (
            f"{len(gaps)} of {math.ceil((until_s - start_s) / _HOUR_S)} bake hour(s) without a window "
            f"judged against the pre-promotion reference (hours {hours})"
        )
        return Verdict("no_evidence", missing=missing)
    return Verdict("pass")


def describe(trigger: abort_rules.Trigger) -> str:
    """One line for on-call: the rule, the last window's figures against the pre-promotion reference."""
    f = trigger.figures
    last = (f.get("windows") or [f])[-1]
    name = f"{trigger.rule}/{trigger.metric}" if trigger.metric else trigger.rule
    if trigger.rule == "sequential":  # its figures are the test's, not a window's rates
        against = "against the previous champion a day earlier"
        return f"bake {name}: new champion {against}: {sequential_rule.describe(trigger.metric or '', f)}"
    if trigger.rule == "error_rate":
        what = f"error rate {last['canary_rate']:.2%} vs {last['holdout_rate']:.2%} ({last['ratio']:.1f}x)"
    elif trigger.rule == "latency_p99":
        what = f"p99 {last['canary_p99_ms']:.0f} ms vs {last['holdout_p99_ms']:.0f} ms"
    elif trigger.rule == "safety":
        what = f"{last['canary']:.4f} vs {last['holdout']:.4f} ({last['deficit_sigmas']:.1f} sigma below)"
    else:
        what = f"rate {last['canary_rate']:.3%} vs {last['holdout_rate']:.3%}"
    span = f" for {f['span_minutes']:.0f} min" if f.get("span_minutes") else ""
    return f"bake {name}: new champion {what} of the previous champion a day earlier{span}"


# --- the daemon's pass ------------------------------------------------------------------------


def reference_since(promoted_at: datetime) -> int:
    """The first start of the reference day: what the bake reads, and so what the cache must hold."""
    return int((promoted_at - REFERENCE).timestamp())


def baking(session: Session) -> dict[uuid.UUID, int]:
    """Every baking canary, with the earliest window start its bake reads (the reference day's)."""
    rows = session.execute(select(Canary.id, Canary.promoted_at).where(Canary.state == BAKING))
    return {cid: reference_since(at) for cid, at in rows if at is not None}


def tick(
    db: Database,
    settings: Settings,
    windows: Mapping[uuid.UUID, abort_rules.WindowArrays],
    *,
    now: datetime,
    actor: str,
    echo: Callable[[str], None],
    rules_for: RulesFor,
) -> list[str]:
    """Judge the baking canaries in ``windows`` (the daemon's cache, read since ``baking``'s floor) with
    their target's rules (``rules_for``: the daemon's parsed policies); each change is its own
    transaction. Returns ``id: outcome`` lines."""
    done = []
    for canary_id, arrays in windows.items():
        began = time.perf_counter()  # the rollback SLA counts from here
        with db.session() as session:
            verdict = _judge_stored(
                session, canary_id, arrays, now=now, settings=settings, rules_for=rules_for
            )
        if verdict.outcome == "continue":
            continue
        with db.transaction() as session:
            outcome = _act(session, canary_id, verdict, _Step(actor, now, settings, began))
        if outcome:
            echo(f"[BAKE] {canary_id} {outcome}")
            done.append(f"{canary_id}: {outcome}")
    return done


def _split(
    arrays: abort_rules.WindowArrays, canary: Canary, *, until_s: int
) -> tuple[abort_rules.GroupArrays, abort_rules.GroupArrays]:
    """The bake's canary windows that ended by ``until_s``, and the reference day's holdout windows."""
    assert canary.promoted_at is not None
    promoted_s, since = int(canary.promoted_at.timestamp()), reference_since(canary.promoted_at)
    c, h = arrays.canary, arrays.holdout
    bake = c.select((c.start >= promoted_s) & (c.end <= until_s))
    reference = h.select((h.start >= since) & (h.end <= promoted_s))
    return bake, reference


def _judge_stored(
    session: Session,
    canary_id: uuid.UUID,
    arrays: abort_rules.WindowArrays,
    *,
    now: datetime,
    settings: Settings,
    rules_for: RulesFor,
) -> Verdict:
    canary = get_by_id(session, Canary, canary_id, what="canary", field="canary_id")
    if canary.state != BAKING or canary.promoted_at is None or canary.bake_until is None:
        return Verdict("continue")
    rules = rules_for(session, registry.get_candidate(session, canary.candidate_id).target)
    until_s = int(canary.bake_until.timestamp())
    ended_s = min(int(now.timestamp()), until_s)
    bake, reference = _split(arrays, canary, until_s=ended_s)
    due = now >= canary.bake_until + timedelta(seconds=settings.evidence_skew_seconds)
    start_s = int(canary.promoted_at.timestamp())
    return judge(bake, reference, rules, start_s=start_s, until_s=until_s, due=due)


@dataclass(frozen=True)
class _Step:
    """A change the daemon makes to one baking canary: by whom, when, under which settings; ``began`` is
    when judging the canary began, the start of the rollback SLA."""

    actor: str
    now: datetime
    settings: Settings
    began: float


def _act(session: Session, canary_id: uuid.UUID, verdict: Verdict, step: _Step) -> str | None:
    canary = get_by_id(session, Canary, canary_id, what="canary", field="canary_id", lock=True)
    if canary.state != BAKING:  # on-call rolled back since we read it
        return None
    if verdict.outcome == "pass":
        finish(session, canary, actor=step.actor, now=step.now)
        return "bake passed"
    reason = _reason(verdict)
    rollback(session, canary, reason, verdict, step)
    return f"rolled back: {reason['message']}"


def _reason(verdict: Verdict) -> dict[str, Any]:
    if verdict.trigger is not None:
        t = verdict.trigger
        check, metric, message = f"bake.{t.rule}", t.metric or t.rule, describe(t)
    else:
        check, metric = "bake.no_evidence", "evidence"
        message = f"the bake has no evidence to pass on ({verdict.missing}): no evidence is not good news"
    return registry.failed_check(check, metric, message)


# --- state changes (each in the caller's transaction) --------------------------------------------


def finish(session: Session, canary: Canary, *, actor: str, now: datetime) -> None:
    """The bake passed: the canary is ``passed`` and the previous champion leaves routing."""
    candidate = registry.get_candidate(session, canary.candidate_id, lock=True)
    canary.state, canary.finished_at = "passed", now
    registry.bump_routing(session, canary.target_id)
    details = {
        "canary_id": str(canary.id),
        "promoted_at": _iso(canary.promoted_at),
        "bake_until": _iso(canary.bake_until),
    }
    canary_audit.decide(session, candidate, "bake", "pass", actor, details=details)
    canary_audit.record(
        session, canary, "canary.bake_pass", actor, before={"state": BAKING}, after={"state": "passed"}
    )


def rollback(
    session: Session, canary: Canary, reason: dict[str, Any], verdict: Verdict, step: _Step
) -> Candidate:
    """A bake breach (or no evidence): the new champion -> failed_promotion, the previous one back,
    decision, audit and page, in the caller's transaction; the time since ``step.began`` is measured
    against the rollback SLA."""
    current = registry.get_candidate(session, canary.candidate_id, lock=True)
    target = registry.get_target(session, current.target.name, lock=True)
    previous = _previous(session, canary, current)
    registry.restore(session, current=current, previous=previous, reason=reason["message"], actor=step.actor)
    canary.state, canary.finished_at = ROLLED_BACK, step.now
    timing, late = registry.rollback_timing(
        time.perf_counter() - step.began, target.rollback_sla_seconds, measured_from="daemon_judging"
    )
    details = {
        "canary_id": str(canary.id),
        "restored_candidate_id": str(previous.id),
        "restored_version": previous.version,
        "bake_until": _iso(canary.bake_until),
        "evidence": verdict.trigger.to_dict() if verdict.trigger else {"missing": verdict.missing},
        "rollback": timing,
    }
    canary_audit.decide(session, current, "bake", "rollback", step.actor, [reason, *late], details)
    after = {"state": ROLLED_BACK, "check": reason["check"], "rollback": timing}
    canary_audit.record(
        session, canary, "canary.bake_rollback", step.actor, before={"state": BAKING}, after=after
    )
    _page(session, step.settings, canary, current, previous, reason, step.now)
    return previous


def _previous(session: Session, canary: Canary, current: Candidate) -> Candidate:
    """The champion this canary replaced, which must still be retired (kept warm) and the new one champion."""
    previous = registry.get_candidate(session, canary.champion_id, lock=True) if canary.champion_id else None
    if previous is None or previous.status != Status.RETIRED.value or current.status != Status.CHAMPION.value:
        raise Conflict(
            "the bake cannot roll back: the new model is no longer champion "
            "or the previous one is not retired",
            canary_id=str(canary.id),
            current_status=current.status,
        )
    return previous


def _page(
    session: Session,
    settings: Settings,
    canary: Canary,
    current: Candidate,
    previous: Candidate,
    reason: dict[str, Any],
    now: datetime,
) -> None:
    canary_audit.page(
        session,
        settings,
        canary,
        current,
        title=f"Bake rollback: {current.target.name} v{current.version} -> v{previous.version}",
        lines=[
            reason["message"],
            f"v{current.version} is failed_promotion; "
            f"v{previous.version} is champion again and serves all traffic",
        ],
        dedup_key=f"gatekeeper-bake-{canary.id}",
        details={
            "check": reason["check"],
            "canary_id": str(canary.id),
            "candidate_id": str(current.id),
            "restored_candidate_id": str(previous.id),
        },
        now=now,
    )


def end_on_manual_rollback(session: Session, *, failed: Candidate, actor: str, now: datetime) -> None:
    """On-call rolled a baking champion back by hand: its bake ends with it (rolled_back, audited)."""
    canary = session.scalar(
        select(Canary).where(Canary.candidate_id == failed.id, Canary.state == BAKING).with_for_update()
    )
    if canary is None:
        return
    canary.state, canary.finished_at = ROLLED_BACK, now
    before = {"state": BAKING}
    after = {"state": ROLLED_BACK, "check": "manual_rollback"}
    canary_audit.record(session, canary, "canary.bake_rollback", actor, before=before, after=after)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
