"""Evidence: what a stage must gather before it may pass (a stage never passes on time alone). Its time up
is not enough: it must also hold the evaluable windows and canary requests ``evidence_needed`` derives from
the error rule's power (or the stage's ``min_windows`` / ``min_requests``)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import numpy as np
from scipy.special import pdtrc, pdtri
from scipy.stats import poisson

from gatekeeper.canary.rules.arrays import WindowArrays
from gatekeeper.canary.rules.pairing import evaluable
from gatekeeper.canary.rules.triggers import AbortRules
from gatekeeper.canary.rules.windows import WINDOW_MINUTES, epoch, from_epoch

_MAX_STEPS = 100_000


def _power_at(n: int, rate: float, ratio: float, alpha: float) -> float:
    """Power of the one-sided exact Poisson test of ``rate`` against ``ratio`` x ``rate`` with n requests."""
    mu0 = n * rate
    k = max(int(poisson.ppf(1.0 - alpha, mu0)), 0)  # P(X > k) <= alpha; step up/down to the strict form
    while k > 0 and pdtrc(k - 1, mu0) < alpha:
        k -= 1
    while pdtrc(k, mu0) >= alpha:  # reject at X >= k + 1 needs P(X >= k + 1 | mu0) < alpha
        k += 1
    return float(pdtrc(k, ratio * mu0))


def requests_for_power(rate: float, ratio: float, alpha: float, power: float) -> int:
    """Canary requests the error-rate rule needs to tell its own effect from the holdout with ``power``.

    The effect the rule exists to catch is a canary error rate of ``ratio`` (``error_ratio``) x the
    holdout's ``rate``. With N canary requests pooled, a one-sided exact Poisson test at level ``alpha``
    (the rule's ``evidence_alpha``) of "the canary's rate is the holdout's" rejects at X >= k*(mu0),
    mu0 = N·rate, the least k with P(X >= k | mu0) < alpha; its power is P(X >= k* | ratio·mu0). The
    answer is the least N whose power reaches ``power``.

    k* is a step function of mu0: it equals k on [b(k-1), b(k)), b(k) = pdtri(k - 1, 1 - alpha) (where
    P(X >= k | mu0) reaches alpha; b(0) = 0), and within a step the power rises with mu0. So step by step
    the least mu0 with enough power is max(b(k-1), m(k) / ratio), m(k) = pdtri(k - 1, 1 - power), and N is
    the first ceil(that / rate) that still lies inside its step. The result depends on the rate only
    through mu0 = N·rate: at error_ratio 2, evidence_alpha 0.05, power 0.8 the stage needs about 9.07
    expected errors at the holdout's rate, i.e. N = 1,813 at a 0.5 % holdout error rate (1,511 at 0.6 %).
    Exact; tests/canary/test_rules.py checks it against a brute-force scan and a simulation.
    """
    if not (rate > 0 and ratio > 1 and 0 < alpha <= 1 and alpha < power < 1):
        raise ValueError("need rate > 0, ratio > 1 and alpha < power < 1 to derive the evidence")
    lo_step = 0.0
    for k in range(1, _MAX_STEPS):
        hi_step = float(pdtri(k - 1, 1.0 - alpha)) if alpha < 1 else math.inf
        lo = max(lo_step, float(pdtri(k - 1, 1.0 - power)) / ratio)
        if lo < hi_step:
            n = max(math.ceil(lo / rate), 1)
            while n * rate < hi_step and _power_at(n, rate, ratio, alpha) < power:
                n += 1  # float rounding at the step's edge
            if n * rate < hi_step:
                return n
        lo_step = hi_step
    raise ValueError("the evidence needed could not be derived")  # pragma: no cover


def evidence_needed(
    holdout_rate: float | None,
    rules: AbortRules,
    *,
    power: float,
    min_windows: int | None = None,
    min_requests: int | None = None,
) -> tuple[int, int | None]:
    """(evaluable windows, canary requests) a stage needs; a stage's own ``min_*`` override the derivation.

    Requests: ``requests_for_power`` at the holdout's observed error rate (unknown, ``None``, without a
    holdout), at the rule's ``evidence_alpha`` (at most 1 - power: the literal rule, alpha 1, has no test
    of its own, so its stages are held to equal odds of either mistake). Windows: the most of the error
    rule's sustain run (``error_minutes`` / 5 + 1) and the windows those requests fill at ``min_requests``
    a window, so a stage's evidence is spread over time, not one burst of traffic.
    """
    need_r = min_requests
    if need_r is None and holdout_rate is not None:
        alpha = min(rules.evidence_alpha, 1.0 - power)  # the literal rule (alpha 1): equal odds either way
        need_r = requests_for_power(holdout_rate, rules.error_ratio, alpha, power)
    if min_windows is not None:
        return min_windows, need_r
    run = int(rules.error_minutes // WINDOW_MINUTES) + 1
    return max(run, math.ceil((need_r or 0) / rules.min_requests)), need_r


@dataclass(frozen=True)
class Evidence:
    """What a stage has gathered since it (re)started, and what it needs; ``met_at`` when both were met."""

    windows_received: int
    windows_evaluable: int
    canary_requests: int
    holdout_requests: int
    holdout_errors: int
    need_windows: int
    need_requests: int | None
    met_at: datetime | None

    @property
    def enough(self) -> bool:
        return self.met_at is not None

    @property
    def holdout_error_rate(self) -> float | None:
        return self.holdout_errors / self.holdout_requests if self.holdout_requests else None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form (the API, the abort's figures and the console read it)."""
        figures = {k: v for k, v in asdict(self).items() if k != "holdout_errors"}
        met_at = self.met_at.isoformat() if self.met_at else None
        return {
            **figures,
            "holdout_error_rate": self.holdout_error_rate,
            "enough": self.enough,
            "met_at": met_at,
        }


def stage_evidence(
    arrays: WindowArrays,
    rules: AbortRules,
    *,
    since: datetime,
    until: datetime,
    power: float,
    min_windows: int | None = None,
    min_requests: int | None = None,
) -> Evidence:
    """Count the canary windows in [since, until]: received, and evaluable (the pairs the rules judge)."""
    lo, hi = epoch(since), epoch(until)
    c, hold = arrays.canary, arrays.holdout
    c = c.select((c.start >= lo) & (c.end <= hi))
    _, ok = evaluable(c, hold, rules.min_requests)
    # The holdout's rate from its own usable windows in the stage, paired or not: a thin canary still
    # learns what it would need.
    used = (hold.start >= lo) & (hold.end <= hi) & (hold.requests >= rules.min_requests)
    n_h, k_h = int(hold.requests[used].sum()), int(hold.errors[used].sum())
    rate = max(k_h / n_h, 1.0 / n_h) if n_h else None  # the error rule's own floor for a zero count
    need_w, need_r = evidence_needed(
        rate, rules, power=power, min_windows=min_windows, min_requests=min_requests
    )
    cum_w = np.cumsum(ok)
    cum_r = np.cumsum(np.where(ok, c.requests, 0))
    met_at = None
    if need_r is not None:
        hit = np.flatnonzero((cum_w >= need_w) & (cum_r >= need_r))
        met_at = from_epoch(c.end[hit[0]]) if hit.size else None
    return Evidence(
        windows_received=len(c),
        windows_evaluable=int(cum_w[-1]) if len(c) else 0,
        canary_requests=int(cum_r[-1]) if len(c) else 0,
        holdout_requests=n_h,
        holdout_errors=k_h,
        need_windows=need_w,
        need_requests=need_r,
        met_at=met_at,
    )
