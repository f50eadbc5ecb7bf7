"""Rule ``latency_p99``: the canary p99 is over ``p99_ratio`` x the reference p99 for more than
``p99_minutes``. The reference is floored at ``p99_floor_ms`` so a bogus zero never makes every window a
breach."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gatekeeper.canary.rules.arrays import BoolArray, FloatArray, GroupArrays, IntArray
from gatekeeper.canary.rules.breaches import run_triggers, windowed_recheck
from gatekeeper.canary.rules.pairing import Paired
from gatekeeper.canary.rules.triggers import AbortRules, Recheck, Trigger
from gatekeeper.canary.rules.windows import iso


@dataclass(frozen=True)
class LatencyJudgement:
    """Per canary window: the floored reference p99, the threshold it met, and the verdict."""

    reference: FloatArray
    threshold: FloatArray  # p99_ratio x reference
    breach: BoolArray


def judge(p99: FloatArray, reference: FloatArray, ok: BoolArray, rules: AbortRules) -> LatencyJudgement:
    """The rule on each window: canary p99 over ``p99_ratio`` x the floored reference (where ``ok``)."""
    ref = np.maximum(reference, rules.p99_floor_ms)
    with np.errstate(invalid="ignore"):
        breach = ok & (p99 > rules.p99_ratio * ref)  # NaN compares false: not evaluable
    return LatencyJudgement(ref, rules.p99_ratio * ref, breach)


def against_holdout(p: Paired, rules: AbortRules) -> list[Trigger]:
    """Every run of breaching windows against their holdout pairs."""
    c = p.c
    hp99 = p.hold.latency_p99_ms[p.h]
    j = judge(c.latency_p99_ms, hp99, p.ok, rules)

    def row(i: int) -> dict[str, Any]:
        return {
            "start": iso(c.start[i]),
            "canary_p99_ms": float(c.latency_p99_ms[i]),
            "holdout_p99_ms": float(hp99[i]),
            "reference_p99_ms": float(j.reference[i]),
            "ratio": float(c.latency_p99_ms[i] / j.reference[i]),
        }

    threshold = {"p99_ratio": rules.p99_ratio, "p99_minutes": rules.p99_minutes}
    return run_triggers("latency_p99", None, p, j.breach, rules.p99_minutes, threshold, row)


def against_baseline(
    c: GroupArrays, b: FloatArray, idx: IntArray, ok: BoolArray, rules: AbortRules
) -> Recheck:
    """The trigger's recorded canary windows against the baseline's median p99 (one slow baseline window
    must not excuse the canary)."""
    median = float(np.median(b))
    p99 = c.latency_p99_ms[idx]
    j = judge(p99, np.full(idx.size, median), ok, rules)
    ref = float(j.reference[0])
    rows = [
        {
            "start": iso(c.start[i]),
            "canary_p99_ms": float(p99[n]),
            "ratio": float(p99[n] / ref),
            "breach": bool(j.breach[n]),
        }
        for n, i in enumerate(idx.tolist())
    ]
    reference = {
        "median_p99_ms": median,
        "reference_p99_ms": ref,
        "threshold_ms": rules.p99_ratio * ref,
        "windows": int(b.size),
    }
    detail = f"baseline median p99 {median:.1f} ms, threshold {rules.p99_ratio * ref:.1f} ms"
    return windowed_recheck("latency_p99", c, idx, j.breach, rules.p99_minutes, reference, rows, detail)
