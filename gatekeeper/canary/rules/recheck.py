"""Re-enable: the same rules on the trigger's recorded canary windows against the pre-canary baseline
(DESIGN §8). Each rule's ``against_baseline`` applies the very ``judge`` the abort path applied, with the
baseline as reference; the sequential rule re-runs its test on every window it saw."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from gatekeeper.canary.rules import error_rate, exception, latency_p99, safety, sequential
from gatekeeper.canary.rules.arrays import BoolArray, FloatArray, GroupArrays, WindowArrays, as_arrays
from gatekeeper.canary.rules.pairing import pair
from gatekeeper.canary.rules.triggers import AbortRules, NoBaseline, Recheck, Trigger, verdict
from gatekeeper.canary.rules.windows import Window, epoch, parse_time


def _trigger_windows(trigger: Trigger, c: GroupArrays) -> NDArray[np.intp]:
    wanted = np.array([epoch(s) for s in trigger.window_starts], dtype=np.int64)
    if wanted.size == 0 or len(c) == 0:
        raise ValueError("the trigger has no canary windows among the windows given")
    idx = np.minimum(np.searchsorted(c.start, wanted), len(c) - 1)
    if not bool(np.all(c.start[idx] == wanted)):
        raise ValueError("the trigger's canary windows are not among the windows given")
    return np.unique(idx)


def _recorded_canary(trigger: Trigger) -> GroupArrays:
    if not trigger.recorded:
        raise ValueError("the trigger carries no recorded canary windows to re-check")
    return GroupArrays.from_windows(Window.from_dict(w) for w in trigger.evidence["canary"])


def _recorded_sigma(trigger: Trigger, c: GroupArrays, idx: NDArray[np.intp]) -> FloatArray:
    """The σ each safety window was judged with, as recorded in the trigger's figures (NaN if absent)."""
    by_start = {epoch(parse_time(r["start"])): r.get("sigma") for r in trigger.figures.get("windows", [])}
    values = [by_start.get(int(c.start[i])) for i in idx.tolist()]
    return np.array([math.nan if v is None else float(v) for v in values], dtype=np.float64)


def _baseline_values(trigger: Trigger, base: GroupArrays, usable: BoolArray) -> FloatArray:
    """The usable baseline values of the latency and safety rules (checked before anything else)."""
    if trigger.rule == "latency_p99":
        b = base.latency_p99_ms[usable & np.isfinite(base.latency_p99_ms)]
        if b.size == 0:
            raise NoBaseline("no pre-canary baseline window reports a p99 latency", rule="latency_p99")
        return b
    if trigger.rule == "safety":
        metric = trigger.metric or ""
        col = base.safety.get(metric)
        b = col[usable & np.isfinite(col)] if col is not None else np.zeros(0)
        if b.size < 2:
            raise NoBaseline(
                f"fewer than 2 pre-canary baseline windows report {metric}", rule="safety", metric=metric
            )
        return b
    return np.zeros(0)


def pooled_reference(base: GroupArrays, c: GroupArrays) -> GroupArrays:
    """The baseline hour pooled into one reference window per canary window: summed requests, errors and
    exceptions, median p99 and mean safety metrics, the reference the seed rules' re-checks use too."""
    n = len(c)

    def nanmean(v: FloatArray) -> float:
        return float(np.nanmean(v)) if np.isfinite(v).any() else math.nan

    return GroupArrays.from_columns(
        start=c.start,
        end=c.end,
        requests=np.full(n, base.requests.sum()),
        errors=np.full(n, base.errors.sum()),
        latency_p99_ms=np.full(n, np.nanmedian(base.latency_p99_ms) if n else math.nan),
        safety={m: np.full(n, nanmean(v)) for m, v in base.safety.items()},
        exceptions={t: np.full(n, v.sum()) for t, v in base.exceptions.items()},
    )


def _reports(effect: str, usable: GroupArrays) -> None:
    """A baseline that does not report the effect's metric is no evidence either way: never a pass."""
    if effect in ("error_ratio", "exception_ratio"):
        return
    col = usable.latency_p99_ms if effect == "p99_ratio" else usable.safety.get(effect)
    reported = 0 if col is None else int(np.isfinite(col).sum())
    if reported < (1 if effect == "p99_ratio" else 2):
        raise NoBaseline(f"too few pre-canary baseline windows report {effect}", rule="sequential")


def _sequential(trigger: Trigger, base: GroupArrays, rules: AbortRules) -> Recheck:
    """The sequential test of the trigger's effect, at the same level, on every canary window it saw up to
    the trigger (as recorded with it), each against the pooled baseline hour. Firing at any look keeps
    the canary aborted."""
    seen = _recorded_canary(trigger)
    usable = base.select(base.requests >= rules.min_requests)
    _reports(trigger.metric or "", usable)
    p = pair(WindowArrays(seen, pooled_reference(usable, seen), GroupArrays.empty()), rules)
    if p is None:  # cannot happen for a trigger the rule fired on evaluable windows; never a pass
        raise NoBaseline("none of the canary windows the trigger saw is evidence", rule=trigger.rule)
    effect = trigger.metric or ""
    fires, figures = sequential.against_reference(p, effect, rules)
    return Recheck(fires, figures, verdict("sequential", fires, sequential.describe(effect, figures)))


def recheck_against_baseline(
    trigger: Trigger, baseline: Sequence[Window] | WindowArrays | GroupArrays, rules: AbortRules
) -> Recheck:
    """Re-run the trigger's rule on its recorded canary windows against the 1-hour pre-canary baseline
    (DESIGN §8). Only the baseline is taken from ``baseline`` (other groups in it are ignored): the canary
    figures are those recorded with the trigger, so windows re-posted after the abort change nothing."""
    base = baseline if isinstance(baseline, GroupArrays) else as_arrays(baseline).baseline
    usable = base.requests >= rules.min_requests
    if not usable.any():
        raise NoBaseline(
            "no pre-canary baseline windows with enough requests to re-check the trigger",
            rule=trigger.rule,
            min_requests=rules.min_requests,
        )
    if trigger.rule == "sequential":
        return _sequential(trigger, base, rules)
    b = _baseline_values(trigger, base, usable)
    c = _recorded_canary(trigger)
    idx = _trigger_windows(trigger, c)
    ok = c.requests[idx] >= rules.min_requests
    if trigger.rule == "error_rate":
        return error_rate.against_baseline(c, base, usable, idx, ok, rules)
    if trigger.rule == "latency_p99":
        return latency_p99.against_baseline(c, b, idx, ok, rules)
    if trigger.rule == "safety":
        sigma_t = _recorded_sigma(trigger, c, idx)
        return safety.against_baseline(trigger.metric or "", c, b, sigma_t, idx, ok, rules)
    if trigger.rule == "exception":
        return exception.against_baseline(trigger.metric or "", c, base, usable, idx, ok, rules)
    raise ValueError(f"unknown rule {trigger.rule!r}")
