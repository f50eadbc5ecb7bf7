"""Drift triage (seed 002 section 6.3) as a pure function: a sustained drift signal gets an action,
not an automatic retrain.

Order of the checks, first match wins:

1. a known seasonal pattern acknowledged by on-call -> ``none``;
2. a regression on a safety-critical slice (labelled recall or F1 of e.g. return_request or escalation
   dropped by more than the concept threshold) -> ``retrain_now`` with a SEV-3 page;
3. an upstream model change (another target's champion changed shortly before or during the drift)
   -> ``retrain`` (the downstream model is the one whose inputs moved);
4. drift sustained for ``retrain_after`` (7 days) or more -> ``retrain``;
5. the predicted-class KL held at the retrain level (seed 003: 0.028) -> ``retrain``;
6. otherwise -> ``review``: on-call looks at the dashboard; nothing is queued.

The safety check comes before the upstream and duration checks because it is the only one that pages:
a seasonal acknowledgement is on-call's explicit judgement and is respected.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

Action = Literal["none", "review", "retrain", "retrain_now"]
RETRAIN_AFTER = timedelta(days=7)
SAFETY_METRICS = ("recall", "f1")


@dataclass(frozen=True)
class UpstreamChange:
    """Another target's champion changed (a promotion or a rollback recorded as a decision)."""

    target: str
    candidate_id: str
    version: int
    verdict: str
    at: datetime

    def describe(self) -> str:
        return f"{self.target} v{self.version} {self.verdict} at {self.at.isoformat()}"


@dataclass(frozen=True)
class SafetyRegression:
    cls: str
    metric: str
    reference: float
    current: float
    support: int

    @property
    def drop(self) -> float:
        return self.reference - self.current

    def describe(self) -> str:
        return (
            f"{self.cls} {self.metric} {self.current:.3f} vs reference {self.reference:.3f} "
            f"(-{self.drop:.3f}, n={self.support})"
        )


@dataclass(frozen=True)
class Triage:
    action: Action
    reasons: tuple[str, ...]
    page: bool = False
    sev: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def retrain(self) -> bool:
        return self.action in ("retrain", "retrain_now")


def _details(
    sustained_for: timedelta,
    upstream: Sequence[UpstreamChange],
    safety: Sequence[SafetyRegression],
    kl_retrain: bool,
) -> dict[str, Any]:
    """What triage looked at, kept with its suggestion whatever it suggests."""
    return {
        "sustained_hours": round(sustained_for.total_seconds() / 3600, 2),
        "upstream": [u.describe() for u in upstream],
        "safety": [s.describe() for s in safety],
        "kl_retrain": kl_retrain,
    }


def triage(
    *,
    kind: str,
    sustained_for: timedelta,
    seasonal: bool = False,
    upstream: Sequence[UpstreamChange] = (),
    safety: Sequence[SafetyRegression] = (),
    kl_retrain: bool = False,
    retrain_after: timedelta = RETRAIN_AFTER,
) -> Triage:
    """Suggest what to do about one kind's sustained drift, with the reasons that led there."""
    details = _details(sustained_for, upstream, safety, kl_retrain)
    if seasonal:
        return Triage("none", (f"{kind} drift acknowledged as a known seasonal pattern",), details=details)
    if safety:
        reasons = tuple(f"safety-critical slice regressed: {s.describe()}" for s in safety)
        return Triage("retrain_now", reasons, page=True, sev="SEV-3", details=details)
    if upstream:
        reasons = tuple(f"upstream model changed: {u.describe()}" for u in upstream)
        return Triage(
            "retrain", (*reasons, "retrain this downstream model on post-change data"), details=details
        )
    if sustained_for >= retrain_after:
        days = sustained_for.total_seconds() / 86400
        reason = (
            f"{kind} drift sustained {days:.1f} days (>= {retrain_after.days} days) with no upstream cause"
        )
        return Triage("retrain", (reason,), details=details)
    if kl_retrain:
        return Triage("retrain", ("predicted-intent KL held at the retrain level",), details=details)
    hours = sustained_for.total_seconds() / 3600
    return Triage(
        "review",
        (f"{kind} drift sustained {hours:.0f} h: review the dashboard; no action queued",),
        details=details,
    )


def safety_regressions(
    reference: Mapping[str, Mapping[str, Any]],
    current: Mapping[str, Mapping[str, Any]],
    *,
    classes: Sequence[str],
    min_support: int,
    max_drop: float,
) -> list[SafetyRegression]:
    """Safety-critical classes whose labelled recall or F1 fell by more than ``max_drop``.

    A class needs ``min_support`` labelled examples in the current window to be judged, so a day with
    three escalations cannot page anyone.
    """
    found = []
    for cls in classes:
        ref, cur = reference.get(cls) or {}, current.get(cls) or {}
        support = int(cur.get("support") or 0)
        if support < min_support:
            continue
        for metric in SAFETY_METRICS:
            r, c = _finite(ref.get(metric)), _finite(cur.get(metric))
            if r is not None and c is not None and r - c > max_drop:
                found.append(SafetyRegression(cls, metric, r, c, support))
    return found


def _finite(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) and math.isfinite(x) else None
