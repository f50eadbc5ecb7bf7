"""The thresholds each canary window is judged against, per window, for the API and the console to draw:
the same ``judge`` of each rule the daemon applies, never a copy of its formula."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gatekeeper.canary.rules import error_rate, latency_p99, safety
from gatekeeper.canary.rules.arrays import FloatArray, WindowArrays
from gatekeeper.canary.rules.pairing import evaluable
from gatekeeper.canary.rules.triggers import AbortRules


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def window_thresholds(arrays: WindowArrays, rules: AbortRules) -> dict[int, dict[str, Any]]:
    """Per canary window start (epoch seconds): ``judged`` (both sides hold ``min_requests``), the error
    rate and p99 thresholds against its holdout pair, and per safety metric the σ used and the floor
    (holdout - ``safety_sigma``·σ). A figure that cannot be judged (no holdout pair, σ from fewer than two
    windows) is None."""
    c, hold = arrays.canary, arrays.holdout
    if len(hold) == 0:  # nothing to pair with: nothing judged
        none = {"judged": False, "error_rate": None, "latency_p99_ms": None}
        return {
            int(s): {
                **none,
                "safety": {m: dict.fromkeys(("sigma", "threshold")) for m in rules.safety_metrics},
            }
            for s in c.start
        }
    h, ok = evaluable(c, hold, rules.min_requests)
    paired = hold.start[h] == c.start
    err = error_rate.judge(
        c.requests, c.errors, error_rate.reference_rate(hold.requests[h], hold.errors[h]), ok, rules
    ).threshold
    p99 = latency_p99.judge(c.latency_p99_ms, hold.latency_p99_ms[h], ok, rules).threshold
    sig = {m: _safety(arrays, h, paired, m, rules) for m in rules.safety_metrics}
    return {
        int(c.start[i]): {
            "judged": bool(ok[i]),
            "error_rate": _num(err[i]) if paired[i] else None,
            "latency_p99_ms": _num(p99[i]) if paired[i] else None,
            "safety": {
                m: {"sigma": _num(s[0][i]), "threshold": _num(s[1][i]) if paired[i] else None}
                for m, s in sig.items()
            },
        }
        for i in range(len(c))
    }


def _safety(
    arrays: WindowArrays, h: np.ndarray, paired: np.ndarray, metric: str, rules: AbortRules
) -> tuple[FloatArray, FloatArray]:
    """σ and the floor of one safety metric per canary window (NaN where not judgeable)."""
    c, hold = arrays.canary, arrays.holdout
    nan = np.full(len(c), math.nan)
    if metric not in c.safety or metric not in hold.safety:
        return nan, nan
    sig = safety.safety_sigma(c.end, hold, arrays.baseline, metric, rules)
    j = safety.judge(c.safety[metric], hold.safety[metric][h], sig.sigma, paired, rules)
    return sig.sigma, j.threshold
