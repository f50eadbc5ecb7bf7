"""Rule ``sequential`` (issue 15): the anytime-valid tests of ``gatekeeper.canary.sequential`` on the
evaluable canary/holdout pairs, one look per canary window judged (since the canary was armed).

Tests, each against the policy's ``abort_rules.sequential`` tolerance: the error-rate ratio and the pooled
exception-rate ratio (all types together: a new canary-only type raises it, an upstream outage hits both
groups alike) with ``rate_ratio``, the p99 ratio with ``p99_ratio``, and each safety metric's difference
of means with ``mean_difference`` (n = the window's requests; the variance proxy 1/4 of a rate covers a
metric measured on a share of them as long as p (1 - p) / share <= 1/4, e.g. p = 0.88 on half). The
level ``alpha`` is split evenly over the k tests (Bonferroni), so a healthy canary is aborted with
probability at most ``alpha`` over its whole life, however often the daemon looks. A window that is not
evaluable (either side under ``min_requests``, or no holdout pair) is a look that adds no evidence.

The rule fires once per effect, at the first look whose e-value reaches k / ``alpha``; the trigger's
figures carry that look's always-valid p-value and confidence sequence. A tick needs only the decision,
so the e-processes are computed without their intervals, and the full test runs on the fired prefix only.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gatekeeper.canary.rules.arrays import BoolArray, FloatArray, GroupArrays, WindowArrays, as_arrays
from gatekeeper.canary.rules.pairing import Paired, evaluable
from gatekeeper.canary.rules.triggers import AbortRules, Trigger, make_trigger
from gatekeeper.canary.rules.windows import iso
from gatekeeper.canary.sequential import SequentialResult, mean_difference, p99_ratio, rate_ratio
from gatekeeper.canary.sequential.latency import log_one_sided as sign_e_process
from gatekeeper.canary.sequential.rates import rate_e_process

Columns = dict[str, FloatArray]
_RATES = ("error_ratio", "exception_ratio")


def _pooled(g: GroupArrays, idx: Any = slice(None)) -> FloatArray:
    total = np.zeros(len(g), dtype=np.float64)
    for counts in g.exceptions.values():
        total += counts
    return total[idx]


def _columns(c: GroupArrays, hold: GroupArrays, h: Any, ok: BoolArray) -> Columns:
    """The tests' inputs per canary window: counts and requests, zero where the pair is no evidence."""
    zero = np.zeros(len(c), dtype=np.float64)
    return {
        "nc": np.where(ok, c.requests, zero),
        "nh": np.where(ok, hold.requests[h], zero),
        "ec": np.where(ok, c.errors, zero),
        "eh": np.where(ok, hold.errors[h], zero),
        "xc": np.where(ok, _pooled(c), zero),
        "xh": np.where(ok, _pooled(hold, h), zero),
        "pc": np.where(ok, c.latency_p99_ms, np.nan),
        "ph": np.where(ok, hold.latency_p99_ms[h], np.nan),
    }


def _safety(c: GroupArrays, hold: GroupArrays, h: Any, ok: BoolArray, metric: str) -> Columns:
    nan = np.full(len(c), np.nan)
    if metric not in c.safety or metric not in hold.safety:
        return {"mc": nan, "mh": nan}
    return {"mc": np.where(ok, c.safety[metric], nan), "mh": np.where(ok, hold.safety[metric][h], nan)}


def effects(rules: AbortRules) -> list[str]:
    """The tests the rule runs, in order: k = their number sets the per-test level alpha / k."""
    return ["error_ratio", "exception_ratio", "p99_ratio", *rules.safety_metrics]


def _rate_inputs(effect: str, col: Columns, rules: AbortRules) -> tuple[tuple[FloatArray, ...], float]:
    key = "e" if effect == "error_ratio" else "x"
    ratio = rules.sequential.error_ratio if key == "e" else rules.sequential.exception_ratio
    return (col[f"{key}c"], col["nc"], col[f"{key}h"], col["nh"]), ratio


def _full(effect: str, col: Columns, rules: AbortRules, alpha: float) -> SequentialResult:
    """One test with its confidence sequence (what a trigger, the API and the console show)."""
    s = rules.sequential
    every = s.restart_windows
    if effect in _RATES:
        counts, ratio = _rate_inputs(effect, col, rules)
        return rate_ratio(*counts, ratio=ratio, alpha=alpha, restart_every=every, effect=effect)
    if effect == "p99_ratio":
        return p99_ratio(col["pc"], col["ph"], ratio=s.p99_ratio, alpha=alpha, restart_every=every)
    return mean_difference(
        col["mc"], col["mh"], col["nc"], col["nh"], tolerance=s.safety_tolerance, alpha=alpha,
        restart_every=every, effect=f"{effect}_difference",
    )  # fmt: skip


def _first_look(effect: str, col: Columns, rules: AbortRules, alpha: float) -> int | None:
    """The first look at which the test fires. Rates and p99 compute their e-process alone (the same
    values as the full test, without the interval's grid: a tick needs only the decision)."""
    every = rules.sequential.restart_windows
    if effect in _RATES:
        counts, ratio = _rate_inputs(effect, col, rules)
        log_e = rate_e_process(*counts, ratio=ratio, restart_every=every)
    elif effect == "p99_ratio":
        c, h = col["pc"], col["ph"]
        ok = np.isfinite(c) & np.isfinite(h) & (c > 0) & (h > 0)
        over = ok & (np.where(ok, c, 0.0) > rules.sequential.p99_ratio * np.where(ok, h, 1.0))
        log_e = sign_e_process(np.cumsum(over), np.cumsum(ok), restart_every=every)
    else:
        return _full(effect, col, rules, alpha).fired
    crossed = np.flatnonzero(log_e >= math.log(1.0 / alpha))
    return int(crossed[0]) if crossed.size else None


def _columns_for(effect: str, p: Paired) -> Columns:
    col = _columns(p.c, p.hold, p.h, p.ok)
    if effect not in (*_RATES, "p99_ratio"):
        col.update(_safety(p.c, p.hold, p.h, p.ok, effect))
    return col


def _trigger(p: Paired, effect: str, look: int, col: Columns, rules: AbortRules) -> Trigger:
    k = len(effects(rules))
    prefix = {name: values[: look + 1] for name, values in col.items()}
    result = _full(effect, prefix, rules, rules.sequential.alpha / k).at(look)
    window = {
        "start": iso(p.c.start[look]),
        "canary_requests": int(p.c.requests[look]),
        "holdout_requests": int(p.hold.requests[p.h[look]]),
    }
    figures = {
        **result,
        "rule_alpha": rules.sequential.alpha,
        "tests": k,
        "threshold": rules.sequential.model_dump(mode="json"),
        "windows": [window],
    }
    return make_trigger("sequential", effect, p.c, [look], figures)


def against_holdout(p: Paired, rules: AbortRules) -> list[Trigger]:
    """The first look at which each test's e-value reaches k / alpha, as a trigger (at most one per test)."""
    found = []
    alpha = rules.sequential.alpha / len(effects(rules))
    for effect in effects(rules):
        col = _columns_for(effect, p)
        look = _first_look(effect, col, rules, alpha)
        if look is not None:
            found.append(_trigger(p, effect, look, col, rules))
    return found


def against_reference(p: Paired, effect: str, rules: AbortRules) -> tuple[bool, dict[str, Any]]:
    """The re-enable check: the same test of ``effect`` at the same level on pairs against another
    reference (the pre-canary baseline); whether it fires at any look, and its figures at the look it
    first fires (else the last)."""
    k = len(effects(rules))
    col = _columns_for(effect, p)
    result = _full(effect, col, rules, rules.sequential.alpha / k)
    look = -1 if result.fired is None else result.fired
    figures = {**result.at(look), "rule_alpha": rules.sequential.alpha, "tests": k}
    figures["evaluable"] = int(p.ok.sum())
    return result.fired is not None, figures


def confidence(arrays: WindowArrays, rules: AbortRules) -> dict[str, dict[str, Any]]:
    """Each test at the last look: e-value, always-valid p-value, estimate and confidence sequence at
    level 1 - alpha / k (for the windows API, the console and the backtest); {} with no canary window."""
    a = as_arrays(arrays)
    if len(a.canary) == 0:
        return {}
    h, ok = evaluable(a.canary, a.holdout, rules.min_requests)
    alpha = rules.sequential.alpha / len(effects(rules))
    out = {}
    for effect in effects(rules):
        col = _columns(a.canary, a.holdout, h, ok) if len(a.holdout) else _empty(len(a.canary))
        if effect not in (*_RATES, "p99_ratio"):
            col.update(_safety(a.canary, a.holdout, h, ok, effect) if len(a.holdout) else {})
        out[effect] = _full(effect, col, rules, alpha).at(-1)
    return out


def _empty(n: int) -> Columns:
    zero, nan = np.zeros(n), np.full(n, np.nan)
    return {"nc": zero, "nh": zero, "ec": zero, "eh": zero, "xc": zero, "xh": zero, "pc": nan, "ph": nan,
            "mc": nan, "mh": nan}  # fmt: skip


def describe(effect: str, figures: dict[str, Any]) -> str:
    """The trigger in one line: the effect's estimate, its confidence sequence and always-valid p-value."""
    lo, hi = figures.get("ci") or [None, None]
    level = figures.get("level", 1 - figures.get("alpha", 0.0))

    def num(x: float | None) -> str:
        return "unbounded" if x is None else f"{x:.3g}"

    return (
        f"{effect} {num(figures.get('estimate'))}, {level:.1%} confidence sequence [{num(lo)}, {num(hi)}] "
        f"against a tolerated {figures.get('null')}, always-valid p = {figures.get('p_value', 1.0):.2g} "
        f"(alpha {figures.get('rule_alpha')} over {figures.get('tests')} tests)"
    )
