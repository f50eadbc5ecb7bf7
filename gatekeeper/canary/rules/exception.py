"""Rule ``exception``: an exception type whose canary rate exceeds the reference rate by more than
``exception_excess_rate``, pooled over the trailing hour against the holdout (over the trigger's windows
against the baseline), with evidence (Poisson test at ``evidence_alpha``). The hour must pool at least
12 x ``min_requests`` canary requests: 2 exceptions in 218 requests of a quiet night are not a 0.1 % rate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gatekeeper.canary.rules.arrays import BoolArray, FloatArray, GroupArrays, IntArray
from gatekeeper.canary.rules.evidence import p_upper, rates
from gatekeeper.canary.rules.pairing import Paired
from gatekeeper.canary.rules.runs import windowed
from gatekeeper.canary.rules.triggers import AbortRules, Recheck, Trigger, make_trigger, verdict
from gatekeeper.canary.rules.windows import HOUR_S, WINDOWS_PER_HOUR


@dataclass(frozen=True)
class ExceptionJudgement:
    """Per pooled count: the canary and reference rates, the evidence p-value, and the verdict."""

    canary_rate: FloatArray
    reference_rate: FloatArray
    threshold: FloatArray  # reference rate + exception_excess_rate
    p_value: FloatArray  # 1 where the canary count is 0
    breach: BoolArray


def judge(
    k_c: IntArray, n_c: IntArray, k_ref: IntArray, n_ref: IntArray, enough: BoolArray, rules: AbortRules
) -> ExceptionJudgement:
    """The rule on pooled counts: canary rate over reference rate + excess, and evidence of it."""
    excess = rules.exception_excess_rate
    r_c, r_ref = rates(k_c, n_c), k_ref / n_ref
    ref = np.maximum(r_ref, 1.0 / n_ref)  # a canary-only type: its reference count is 0, floored here
    p = np.ones(k_c.size, dtype=np.float64)
    counted = np.flatnonzero(k_c > 0)
    p[counted] = p_upper(k_c[counted], (n_c * (ref + excess))[counted])
    breach = enough & (r_c - r_ref > excess) & (p < rules.evidence_alpha)
    return ExceptionJudgement(r_c, r_ref, r_ref + excess, p, breach)


def _threshold(rules: AbortRules, **more: Any) -> dict[str, Any]:
    return {
        "exception_excess_rate": rules.exception_excess_rate,
        **more,
        "evidence_alpha": rules.evidence_alpha,
    }


def _candidates(p: Paired, rules: AbortRules, types: list[str], e: IntArray, lo: IntArray) -> tuple:
    """Trailing-hour canary counts per type, and the types that could fire at all (cheap, all at once):
    k_c > excess x n_c, and the count is evidence even if the holdout rate were 0 (the real test's
    expected count is larger, so its p-value is too)."""
    c = p.c
    n_c = windowed(c.requests[e], lo)
    counts = np.zeros((len(types), e.size + 1), dtype=np.int64)
    np.cumsum(np.stack([c.exceptions[t][e] for t in types]), axis=1, out=counts[:, 1:])
    k_all = counts[:, 1:] - counts[:, lo]  # one row per type
    floor = rules.exception_excess_rate * n_c
    enough = n_c >= WINDOWS_PER_HOUR * rules.min_requests  # an hour's worth of min_requests, pooled
    rows, cols = np.nonzero((k_all > floor) & enough)
    if rows.size == 0:
        return n_c, k_all, enough, np.zeros(0, dtype=np.int64)
    strong = p_upper(k_all[rows, cols], floor[cols]) < rules.evidence_alpha
    return n_c, k_all, enough, np.unique(rows[strong])


def against_holdout(p: Paired, rules: AbortRules) -> list[Trigger]:
    """One trigger per episode and type, pooled over the trailing hour of evaluable pairs."""
    c, hold = p.c, p.hold
    types = sorted(t for t, v in c.exceptions.items() if v.any())
    if not types:
        return []
    e = np.flatnonzero(p.ok)
    ends = c.end[e]
    lo = np.searchsorted(ends, ends - HOUR_S, side="right")
    n_c, k_all, enough, candidates = _candidates(p, rules, types, e, lo)
    if candidates.size == 0:
        return []
    he = p.h[e]
    n_h = windowed(hold.requests[he], lo)
    out = []
    for row in candidates.tolist():
        t, k_c = types[row], k_all[row]
        hcol = hold.exceptions.get(t)
        k_h = windowed(hcol[he], lo) if hcol is not None else np.zeros_like(k_c)
        j = judge(k_c, n_c, k_h, n_h, enough, rules)
        firsts = np.flatnonzero(j.breach & ~np.concatenate(([False], j.breach[:-1])))  # one per episode
        for k in firsts.tolist():
            figures = {
                "exception_type": t,
                "canary_count": int(k_c[k]),
                "canary_requests": int(n_c[k]),
                "canary_rate": float(j.canary_rate[k]),
                "holdout_count": int(k_h[k]),
                "holdout_requests": int(n_h[k]),
                "holdout_rate": float(j.reference_rate[k]),
                "excess": float(j.canary_rate[k] - j.reference_rate[k]),
                "p_value": float(j.p_value[k]),
                "threshold": _threshold(rules, window_minutes=60),
            }
            out.append(make_trigger("exception", t, c, e[lo[k] : k + 1].tolist(), figures))
    return out


def against_baseline(
    kind: str,
    c: GroupArrays,
    base: GroupArrays,
    usable: BoolArray,
    idx: IntArray,
    ok: BoolArray,
    rules: AbortRules,
) -> Recheck:
    """The trigger's recorded canary windows, pooled, against the pooled pre-canary baseline."""
    sel = idx[ok]
    n_c = int(c.requests[sel].sum())
    k_c = int(c.exceptions[kind][sel].sum()) if kind in c.exceptions else 0
    n_b = int(base.requests[usable].sum())
    k_b = int(base.exceptions[kind][usable].sum()) if kind in base.exceptions else 0
    one = np.array  # the rule on one pooled count
    j = judge(one([k_c]), one([n_c]), one([k_b]), one([n_b]), one([n_c > 0]), rules)
    fires = bool(j.breach[0])
    r_c, r_b = float(j.canary_rate[0]), float(j.reference_rate[0])
    figures = {
        "exception_type": kind,
        "canary_count": k_c,
        "canary_requests": n_c,
        "canary_rate": r_c,
        "baseline": {"count": k_b, "requests": n_b, "rate": r_b, "windows": int(usable.sum())},
        "excess": r_c - r_b,
        "p_value": float(j.p_value[0]),
        "threshold": _threshold(rules),
    }
    detail = f"{kind}: canary {r_c:.4%} vs baseline {r_b:.4%}, excess limit {rules.exception_excess_rate:.2%}"
    return Recheck(fires, figures, verdict("exception", fires, detail))
