"""Rule ``safety``: a safety metric (higher is better) of the canary is more than ``safety_sigma``·σ below
the reference for more than ``safety_minutes``. σ is floored at ``safety_sigma_floor``; NaN (fewer than 2
windows) is not evaluable. Against the holdout, σ is the holdout's over the trailing 24 h (the baseline's
until 12 holdout windows); the re-check keeps the σ the trigger was judged with as the least."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from gatekeeper.canary.rules.arrays import BoolArray, FloatArray, GroupArrays, IntArray
from gatekeeper.canary.rules.breaches import run_triggers, windowed_recheck
from gatekeeper.canary.rules.pairing import Paired
from gatekeeper.canary.rules.runs import runs
from gatekeeper.canary.rules.triggers import AbortRules, Recheck, Trigger
from gatekeeper.canary.rules.windows import DAY_S, iso


@dataclass(frozen=True)
class SafetyJudgement:
    """Per canary window: the σ used (floored), the floor below the reference, and the verdict."""

    sigma_used: FloatArray
    threshold: FloatArray  # reference - safety_sigma x sigma_used
    breach: BoolArray


def judge(
    canary: FloatArray, reference: FloatArray, sigma: FloatArray | float, ok: BoolArray, rules: AbortRules
) -> SafetyJudgement:
    """The rule on each window: the canary more than ``safety_sigma``·σ below ``reference`` (where ``ok``)."""
    eff = np.maximum(sigma, rules.safety_sigma_floor)  # NaN stays NaN: not evaluable
    with np.errstate(invalid="ignore"):
        breach = ok & (reference - canary > rules.safety_sigma * eff)
    return SafetyJudgement(eff, reference - rules.safety_sigma * eff, breach)


def sample_sigma(values: FloatArray) -> float:
    """Sample σ (ddof=1); NaN below 2 values."""
    return float(np.std(values, ddof=1)) if values.size >= 2 else math.nan


def trailing_sigma(times: IntArray, values: FloatArray, at: IntArray) -> tuple[FloatArray, IntArray]:
    """Sample σ (ddof=1) and count of ``values`` with time in (t - 24 h, t] for each t in ``at``."""
    hi = np.searchsorted(times, at, side="right")
    lo = np.searchsorted(times, at - DAY_S, side="right")
    n = hi - lo
    if values.size == 0:
        return np.full(at.size, math.nan), n
    x = values - values.mean()  # centred: the cumulative-sum variance keeps its precision
    s1 = np.concatenate(([0.0], np.cumsum(x)))
    s2 = np.concatenate(([0.0], np.cumsum(x * x)))
    t1, t2 = s1[hi] - s1[lo], s2[hi] - s2[lo]
    with np.errstate(divide="ignore", invalid="ignore"):
        var = (t2 - t1 * t1 / n) / (n - 1)
    sigma = np.sqrt(np.maximum(var, 0.0))
    sigma[n < 2] = math.nan
    return sigma, n


_MIN_HOLDOUT_SIGMA_WINDOWS = 12


@dataclass(frozen=True)
class _Sigma:
    sigma: FloatArray  # NaN where fewer than 2 windows: not evaluable
    from_holdout: BoolArray
    windows: IntArray  # how many windows the σ came from


def safety_sigma(
    at: IntArray, hold: GroupArrays, base: GroupArrays, metric: str, rules: AbortRules
) -> _Sigma:
    """σ at times ``at``: the holdout's over the trailing 24 h, the baseline's until 12 holdout windows."""
    hall = hold.safety.get(metric, np.full(len(hold), math.nan))
    usable = np.isfinite(hall) & (hold.requests >= rules.min_requests)
    sigma_h, n_h = trailing_sigma(hold.end[usable], hall[usable], at)
    bvals = base.safety.get(metric)
    sigma_b, n_b = math.nan, 0
    if bvals is not None:
        bvals = bvals[np.isfinite(bvals) & (base.requests >= rules.min_requests)]
        sigma_b, n_b = sample_sigma(bvals), int(bvals.size)
    from_holdout = (n_h >= _MIN_HOLDOUT_SIGMA_WINDOWS) | (math.isnan(sigma_b) & (n_h >= 2))
    return _Sigma(np.where(from_holdout, sigma_h, sigma_b), from_holdout, np.where(from_holdout, n_h, n_b))


def _threshold(rules: AbortRules) -> dict[str, float]:
    return {
        "safety_sigma": rules.safety_sigma,
        "safety_minutes": rules.safety_minutes,
        "safety_sigma_floor": rules.safety_sigma_floor,
    }


def against_holdout(p: Paired, rules: AbortRules, metric: str) -> list[Trigger]:
    """Every run of breaching windows against their holdout pairs, σ from the trailing 24 h."""
    c, hold = p.c, p.hold
    if metric not in c.safety or metric not in hold.safety:
        return []
    cv, hv = c.safety[metric], hold.safety[metric][p.h]
    span = rules.safety_minutes * 60
    if not runs(judge(cv, hv, 0.0, p.ok, rules).breach, p.link, c.start, c.end, span):
        return []  # not even at the σ floor: no run here, none at all (and σ is costly)
    sig = safety_sigma(c.end, hold, p.base, metric, rules)
    j = judge(cv, hv, sig.sigma, p.ok, rules)

    def row(i: int) -> dict[str, Any]:
        return {
            "start": iso(c.start[i]),
            "canary": float(cv[i]),
            "holdout": float(hv[i]),
            "sigma": float(sig.sigma[i]),
            "sigma_used": float(j.sigma_used[i]),
            "sigma_source": "holdout" if sig.from_holdout[i] else "baseline",
            "sigma_windows": int(sig.windows[i]),
            "threshold": float(j.threshold[i]),
            "deficit_sigmas": float((hv[i] - cv[i]) / j.sigma_used[i]),
        }

    return run_triggers("safety", metric, p, j.breach, rules.safety_minutes, _threshold(rules), row)


def against_baseline(
    metric: str,
    c: GroupArrays,
    b: FloatArray,
    sigma_t: FloatArray,
    idx: IntArray,
    ok: BoolArray,
    rules: AbortRules,
) -> Recheck:
    """The trigger's recorded canary windows against the baseline mean.

    The baseline is one hour of full traffic: its σ sees neither the day's swing nor the canary's smaller
    samples, so alone it would refuse nearly every re-enable. The σ the trigger was judged with
    (``sigma_t``, recorded with it) stays the least: the re-check swaps the reference level, never
    tightens the scale.
    """
    mean, sigma_b = float(b.mean()), sample_sigma(b)
    cv = c.safety[metric][idx] if metric in c.safety else np.full(idx.size, math.nan)
    j = judge(cv, np.full(idx.size, mean), np.fmax(sigma_t, sigma_b), ok, rules)
    eff = j.sigma_used
    rows = [
        {
            "start": iso(c.start[i]),
            "canary": float(cv[n]),
            "trigger_sigma": float(sigma_t[n]),
            "sigma_used": float(eff[n]),
            "threshold": float(j.threshold[n]),
            "deficit_sigmas": float((mean - cv[n]) / eff[n]),
            "breach": bool(j.breach[n]),
        }
        for n, i in enumerate(idx.tolist())
    ]
    reference = {"metric": metric, "mean": mean, "sigma": sigma_b, "windows": int(b.size)}
    detail = (
        f"baseline {metric} {mean:.4f}, σ used {float(eff.min()):.4f}-{float(eff.max()):.4f}, "
        f"canary {float(np.nanmin(cv)):.4f}-{float(np.nanmax(cv)):.4f}"
    )
    return windowed_recheck("safety", c, idx, j.breach, rules.safety_minutes, reference, rows, detail)
