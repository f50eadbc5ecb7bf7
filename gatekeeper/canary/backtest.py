"""``gatekeeper backtest``'s core (issue 15): replay window streams through a policy's abort rules, pure and
offline, and summarise false aborts and detection delays per rule.

Each stream is judged the way the daemon judges it: canary windows from the moment the canary was armed,
through ``rules.evaluate`` (the very function the daemon's tick calls), and the canary is aborted at the
earliest trigger. Every rule of the policy is causal (a trigger at time t reads only windows that ended by
t), so one evaluation of the whole stream gives the trigger, and the time, at which a daemon that ticks
after every window would have aborted; a test drives the daemon to check it.

Views: ``policy`` (what the policy aborts on), ``seed`` (the four seed rules together), and each rule
alone (``error_rate``, ..., ``sequential``): a rule's first trigger is what it would do alone, because the
rules do not read one another. On healthy streams a view's false-abort rate is aborts per canary-week of
exposure (until its abort or the stream's end), with an exact Poisson (Garwood) interval, and the share of
canaries aborted with a Clopper-Pearson interval. On a stream with an injected regression a trigger at or
after ``regression_start`` is a detection (delay = trigger time - start); one before it is a false abort.
No I/O here: sources (the database, JSONL files, the simulator) and output formats live at the edges.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from gatekeeper.canary.rules import RULES, AbortRules, Trigger, WindowArrays, evaluate
from gatekeeper.canary.rules.windows import iso

SCHEMA = "gatekeeper.backtest/1"
WEEK_S = 7 * 24 * 3600
SEED_RULES = RULES[:4]
LEVEL = 0.95


@dataclass(frozen=True)
class Stream:
    """One canary's windows; ``armed_since`` (epoch s) defaults to its first canary window's start."""

    id: str
    arrays: WindowArrays
    regression: str | None = None  # a label such as "error_ratio=2.0"; None: a healthy stream
    regression_start: int | None = None  # epoch seconds
    armed_since: int | None = None
    until: int | None = None  # epoch seconds: canary windows ending later are not judged (e.g. promotion)


@dataclass(frozen=True)
class Outcome:
    """What the policy did on one stream, and each rule's first trigger (epoch s) on its own."""

    stream: str
    regression: str | None
    regression_start: int | None
    judged_from: int | None
    judged_to: int | None
    first: dict[str, tuple[int, str | None]] = field(default_factory=dict)  # view -> (time, rule/metric)
    trigger: Trigger | None = None

    def fired(self, view: str) -> int | None:
        hit = self.first.get(view)
        return hit[0] if hit else None


def _judged(stream: Stream) -> WindowArrays:
    """The daemon's cut: canary windows that start at or after the canary was armed (and end by ``until``)."""
    c = stream.arrays.canary
    keep = np.ones(len(c), dtype=bool)
    if stream.armed_since is not None:
        keep &= c.start >= stream.armed_since
    if stream.until is not None:
        keep &= c.end <= stream.until
    return WindowArrays(c.select(keep), stream.arrays.holdout, stream.arrays.baseline)


def _firsts(triggers: Sequence[Trigger], rules: AbortRules) -> dict[str, tuple[int, str | None]]:
    """Earliest trigger per rule, per the seed rules together, and for the policy (all it runs)."""
    first: dict[str, tuple[int, str | None]] = {}
    for t in triggers:  # earliest first
        at, label = int(t.fired_at.timestamp()), t.rule + (f":{t.metric}" if t.metric else "")
        for view in (t.rule, "seed" if t.rule in SEED_RULES else None, "policy"):
            if view is not None and view not in first:
                first[view] = (at, label)
    return first


def replay(stream: Stream, rules: AbortRules) -> Outcome:
    """Judge one stream with the policy's rules (``rules.rules``: seed, sequential or both)."""
    judged = _judged(stream)
    triggers = evaluate(judged, rules)
    c = judged.canary
    span = (int(c.start[0]), int(c.end[-1])) if len(c) else (None, None)
    return Outcome(
        stream=stream.id,
        regression=stream.regression,
        regression_start=stream.regression_start,
        judged_from=span[0],
        judged_to=span[1],
        first=_firsts(triggers, rules),
        trigger=triggers[0] if triggers else None,
    )


def views(rules: AbortRules) -> list[str]:
    """The views a policy's backtest reports: the policy, the seed rules together, each rule it runs."""
    seed = list(SEED_RULES) if rules.rules != "sequential" else []
    sequential = ["sequential"] if rules.rules != "seed" else []
    return ["policy", *(["seed"] if seed else []), *seed, *sequential]


def poisson_interval(count: int, exposure: float, level: float = LEVEL) -> tuple[float, float | None]:
    """Exact (Garwood) interval for a Poisson rate: ``count`` events over ``exposure`` units."""
    if exposure <= 0:
        return 0.0, None
    a = 1 - level
    lo = stats.chi2.ppf(a / 2, 2 * count) / 2 if count else 0.0
    hi = stats.chi2.ppf(1 - a / 2, 2 * count + 2) / 2
    return float(lo / exposure), float(hi / exposure)


def binomial_interval(k: int, n: int, level: float = LEVEL) -> tuple[float, float]:
    """Clopper-Pearson interval for a proportion ``k / n``."""
    if n == 0:
        return 0.0, 1.0
    a = 1 - level
    lo = stats.beta.ppf(a / 2, k, n - k + 1) if k else 0.0
    hi = stats.beta.ppf(1 - a / 2, k + 1, n - k) if k < n else 1.0
    return float(lo), float(hi)


def _healthy(outcomes: Sequence[Outcome], view: str) -> dict[str, Any]:
    """False aborts of one view on healthy streams, per canary-week and per canary."""
    aborts, exposure = 0, 0.0
    for o in outcomes:
        if o.judged_from is None or o.judged_to is None:
            continue
        at = o.fired(view)
        aborts += at is not None
        exposure += ((at if at is not None else o.judged_to) - o.judged_from) / WEEK_S
    lo, hi = poisson_interval(aborts, exposure)
    plo, phi = binomial_interval(aborts, len(outcomes))
    return {
        "streams": len(outcomes),
        "aborted": aborts,
        "canary_weeks": exposure,
        "false_aborts_per_week": aborts / exposure if exposure else None,
        "per_week_ci": [lo, hi],
        "aborted_share": aborts / len(outcomes) if outcomes else None,
        "aborted_share_ci": [plo, phi],
    }


def _regressed(outcomes: Sequence[Outcome], view: str) -> dict[str, Any]:
    """Detection rate and delay (minutes after the regression began) of one view."""
    delays, early = [], 0
    for o in outcomes:
        at, start = o.fired(view), o.regression_start
        if at is not None and start is not None and at < start:
            early += 1
        elif at is not None:
            delays.append((at - (start if start is not None else o.judged_from or at)) / 60.0)
    n = len(outcomes)
    lo, hi = binomial_interval(len(delays), n)
    return {
        "streams": n,
        "detected": len(delays),
        "detection_rate": len(delays) / n if n else None,
        "detection_rate_ci": [lo, hi],
        "aborted_before_regression": early,
        "delay_median_minutes": float(np.median(delays)) if delays else None,
        "delay_p90_minutes": float(np.percentile(delays, 90)) if delays else None,
    }


def summarise(outcomes: Sequence[Outcome], rules: AbortRules) -> dict[str, Any]:
    """The summary per view: healthy streams' false aborts, and per regression label its detection."""
    healthy = [o for o in outcomes if o.regression is None]
    labels = sorted({o.regression for o in outcomes if o.regression is not None})
    names = views(rules)
    return {
        "healthy": {v: _healthy(healthy, v) for v in names} if healthy else {},
        "regressions": {
            label: {v: _regressed([o for o in outcomes if o.regression == label], v) for v in names}
            for label in labels
        },
    }


def _time(seconds: int | None) -> str | None:
    return iso(seconds) if seconds is not None else None


def outcome_dict(o: Outcome) -> dict[str, Any]:
    """One stream in the JSON schema (docs/backtest.md)."""
    hit = o.first.get("policy")
    return {
        "stream": o.stream,
        "regression": o.regression,
        "regression_start": _time(o.regression_start),
        "aborted": hit is not None,
        "rule": o.trigger.rule if o.trigger else None,
        "metric": o.trigger.metric if o.trigger else None,
        "fired_at": _time(hit[0]) if hit else None,
        "delay_minutes": (hit[0] - o.regression_start) / 60.0 if hit and o.regression_start else None,
        "first_by_rule": {v: {"fired_at": iso(at), "trigger": label} for v, (at, label) in o.first.items()},
    }


def run(streams: Iterable[Stream], rules: AbortRules, *, name: str = "policy") -> dict[str, Any]:
    """Replay every stream through one policy: its streams and summary in the JSON schema."""
    outcomes = [replay(s, rules) for s in streams]
    return report(outcomes, rules, name=name)


def report(outcomes: Sequence[Outcome], rules: AbortRules, *, name: str = "policy") -> dict[str, Any]:
    """The JSON form of one policy's backtest."""
    return {
        "name": name,
        "rules": rules.rules,
        "views": views(rules),
        "abort_rules": rules.to_dict(),
        "summary": summarise(outcomes, rules),
        "streams": [outcome_dict(o) for o in outcomes],
    }


def compare(streams: Sequence[Stream], policies: Sequence[tuple[str, AbortRules]]) -> dict[str, Any]:
    """Several policies on the same streams, side by side (``--compare``; the policy PUT response)."""
    return {"schema": SCHEMA, "policies": [run(streams, rules, name=name) for name, rules in policies]}


def regression_label(kind: str, magnitude: float) -> str:
    """The label a simulated regression is summarised under, e.g. ``error_ratio=2``."""
    return f"{kind}={magnitude:g}"
