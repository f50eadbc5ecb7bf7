"""Rule ``error_rate``: the canary error rate is over ``error_ratio`` x the reference rate, with evidence
(Poisson test at ``evidence_alpha``), for more than ``error_minutes``. The reference rate is floored at
1 / reference requests: a zero count only says the rate is below the reference's resolution."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from gatekeeper.canary.rules.arrays import BoolArray, FloatArray, GroupArrays, IntArray
from gatekeeper.canary.rules.breaches import run_triggers, windowed_recheck
from gatekeeper.canary.rules.evidence import evidence, rates
from gatekeeper.canary.rules.pairing import Paired
from gatekeeper.canary.rules.triggers import AbortRules, Recheck, Trigger
from gatekeeper.canary.rules.windows import iso


@dataclass(frozen=True)
class ErrorJudgement:
    """Per canary window: its rate, the reference and threshold it met, and the verdict."""

    rate: FloatArray
    reference: FloatArray  # the reference rate, floored at 1 / reference requests
    threshold: FloatArray  # error_ratio x reference
    p_value: FloatArray  # 1 where the rate is not over the threshold
    breach: BoolArray


def reference_rate(requests: ArrayLike, errors: ArrayLike) -> FloatArray:
    """The reference's error rate, floored at its resolution (1 / requests)."""
    n, k = np.asarray(requests), np.asarray(errors)
    return np.maximum(rates(k, n), 1.0 / np.maximum(n, 1))


def judge(
    requests: IntArray, errors: IntArray, reference: FloatArray, ok: BoolArray, rules: AbortRules
) -> ErrorJudgement:
    """The rule on each window: over ``error_ratio`` x ``reference`` and evidence of it (where ``ok``)."""
    crate = rates(errors, requests)
    point = ok & (crate > rules.error_ratio * reference)
    cond, pval = evidence(point, errors, requests * rules.error_ratio * reference, rules.evidence_alpha)
    return ErrorJudgement(crate, reference, rules.error_ratio * reference, pval, cond)


def _threshold(rules: AbortRules) -> dict[str, Any]:
    return {
        "error_ratio": rules.error_ratio,
        "error_minutes": rules.error_minutes,
        "evidence_alpha": rules.evidence_alpha,
    }


def against_holdout(p: Paired, rules: AbortRules) -> list[Trigger]:
    """Every run of breaching windows against their holdout pairs."""
    c, hold = p.c, p.hold
    hreq, herr = hold.requests[p.h], hold.errors[p.h]
    j = judge(c.requests, c.errors, reference_rate(hreq, herr), p.ok, rules)
    hrate = rates(herr, hreq)

    def row(i: int) -> dict[str, Any]:
        return {
            "start": iso(c.start[i]),
            "canary_requests": int(c.requests[i]),
            "canary_errors": int(c.errors[i]),
            "canary_rate": float(j.rate[i]),
            "holdout_requests": int(hreq[i]),
            "holdout_errors": int(herr[i]),
            "holdout_rate": float(hrate[i]),
            "reference_rate": float(j.reference[i]),
            "ratio": float(j.rate[i] / j.reference[i]),
            "p_value": float(j.p_value[i]),
        }

    return run_triggers("error_rate", None, p, j.breach, rules.error_minutes, _threshold(rules), row)


def against_baseline(
    c: GroupArrays, base: GroupArrays, usable: BoolArray, idx: IntArray, ok: BoolArray, rules: AbortRules
) -> Recheck:
    """The trigger's recorded canary windows against the pooled pre-canary baseline rate."""
    n_b, k_b = int(base.requests[usable].sum()), int(base.errors[usable].sum())
    rate_b = k_b / n_b
    ref = float(reference_rate(n_b, k_b))
    req, err = c.requests[idx], c.errors[idx]
    j = judge(req, err, np.full(idx.size, ref), ok, rules)
    rows = [
        {
            "start": iso(c.start[i]),
            "canary_requests": int(req[n]),
            "canary_errors": int(err[n]),
            "canary_rate": float(j.rate[n]),
            "ratio": float(j.rate[n] / ref),
            "p_value": float(j.p_value[n]),
            "breach": bool(j.breach[n]),
        }
        for n, i in enumerate(idx.tolist())
    ]
    reference = {
        "requests": n_b,
        "errors": k_b,
        "rate": rate_b,
        "reference_rate": ref,
        "threshold_rate": rules.error_ratio * ref,
        "windows": int(usable.sum()),
    }
    detail = f"baseline error rate {rate_b:.4%}, threshold {rules.error_ratio * ref:.4%}"
    return windowed_recheck("error_rate", c, idx, j.breach, rules.error_minutes, reference, rows, detail)
