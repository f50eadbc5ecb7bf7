"""Anytime-valid sign test and confidence sequence for the canary/holdout p99 latency ratio.

Windows carry one p99 per group, not the requests' latencies, so the test works on the per-window ratio
r_t = canary p99 / holdout p99 and asks where its median lies (a sequential sign test, i.e. a test of
stochastic order in the spirit of Kayenta's Mann-Whitney, but valid under continuous monitoring).

Null and test. H0: in every window, given the past, P(r_t > ratio) <= 1/2: the canary's p99 is not above
``ratio`` x the holdout's more often than not (its conditional median ratio is at most ``ratio``). Then
Y_t = 1{r_t > ratio} is a Bernoulli sequence with success probabilities q_t <= 1/2. For any q > 1/2,
(q / (1/2))^Y ((1 - q) / (1/2))^(1 - Y) has conditional mean 2 (q q_t + (1 - q)(1 - q_t)) <= 1, so any
mixture over q in (1/2, 1) is an e-process (Robbins 1970; Lindon & Malek, NeurIPS 2022). With a uniform
prior on (1/2, 1) held at J midpoints q_j, and k successes in n usable windows,

    E_n = (1/J) sum_j (2 q_j)^k (2 (1 - q_j))^(n - k),

and the test fires when E_n >= 1/alpha (mixed over restarts, see ``result``). The sample p99 of a small
canary window is biased low (for n requests the median of the top order statistics is below the true p99),
which only makes the test more conservative.

Confidence sequence for the median ratio m, assumed constant: for each m on a grid, k(m) = #{r_t > m} is
binomial with q = 1/2 at the true m, and the conjugate Beta(a, b) mixture E_n(m) = 2^n B(a + k, b + n - k)
/ B(a, b) is a martingale, so {m : E_n(m) < 1/alpha} covers it at all looks with probability >= 1 - alpha.
E_n is convex in k and k(m) is monotone in m, so the set is an interval, bracketed on the grid by
``result.grid_interval``.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import betaln, gammaln

from gatekeeper.canary.sequential.result import (
    FloatArray,
    SequentialResult,
    check_alpha,
    from_log_e,
    grid_interval,
    restarted,
)

_LOG2 = math.log(2.0)


def log_beta_binomial(k: ArrayLike, n: ArrayLike, a: float = 1.0, b: float = 1.0) -> FloatArray:
    """Log of 2^n B(a + k, b + n - k) / B(a, b): the Beta(a, b) mixture against q = 1/2."""
    k, n = np.asarray(k, dtype=np.float64), np.asarray(n, dtype=np.float64)
    return n * _LOG2 + betaln(a + k, b + n - k) - betaln(a, b)


def log_one_sided(
    k: ArrayLike, n: ArrayLike, *, atoms: int = 50, restart_every: int | None = None
) -> FloatArray:
    """Log of the mixture over q in (1/2, 1) only, an e-process for every q_t <= 1/2, at each look.

    ``k``/``n`` are cumulative successes and usable windows per look. The prior is uniform on (1/2, 1),
    held at ``atoms`` equally spaced midpoints (a discrete prior is exact: the mixture is a finite sum of
    supermartingales, no integral is approximated), and mixed over restarts (``result.restarted``).
    """
    k, n = np.atleast_1d(np.asarray(k, dtype=np.float64)), np.atleast_1d(np.asarray(n, dtype=np.float64))
    q = 0.5 + (np.arange(atoms) + 0.5) / (2 * atoms)
    log_ratio = np.multiply.outer(k, np.log(2 * q)) + np.multiply.outer(n - k, np.log(2 * (1 - q)))
    return restarted(log_ratio, np.full(atoms, -math.log(atoms)), restart_every)


def _grid_scores(
    k: np.ndarray, n: np.ndarray, a: float, b: float, alpha: float
) -> tuple[FloatArray, FloatArray]:
    """Split ``log_beta_binomial`` over a (looks x grid) count array into a per-cell score and per-look cut.

    log M = n log 2 + lgamma(a + k) + lgamma(b + n - k) - lgamma(a + b + n) + lgamma(a + b) - lgamma(a)
    - lgamma(b); M < 1/alpha iff -(lgamma(a + k) + lgamma(b + n - k)) > cut(n). Log-gamma comes from tables.
    """
    j = np.arange(int(n.max()) + 1 if n.size else 1, dtype=np.float64)
    ga, gb, gab = gammaln(a + j), gammaln(b + j), gammaln(a + b + j)
    score = -(ga[k] + gb[n[:, None] - k])
    const = gammaln(a + b) - gammaln(a) - gammaln(b)
    cut = n * _LOG2 - gab[n] + const - math.log(1.0 / alpha)
    return score, cut


def p99_ratio(
    canary_p99: ArrayLike,
    holdout_p99: ArrayLike,
    *,
    ratio: float = 1.0,
    alpha: float = 0.05,
    prior: tuple[float, float] = (1.0, 1.0),
    step: float = 0.02,
    span: float = 1.0,
    usable: ArrayLike | None = None,
    restart_every: int | None = 12,
) -> SequentialResult:
    """Test H0 "the canary's p99 exceeds ratio x the holdout's in at most half the windows" at each window.

    A window counts when both p99 values are finite and positive and ``usable`` (for example enough
    requests in both groups) is true. The interval bounds the median p99 ratio on a log grid of ``step``
    (conservative by one step each side, cut at ratio * exp(+-span)). The test restarts every
    ``restart_every`` windows (see ``result``); None tests from the first window only.
    """
    alpha = check_alpha(alpha)
    if ratio <= 0:
        raise ValueError(f"ratio must be positive, got {ratio}")
    c, h = np.asarray(canary_p99, dtype=np.float64), np.asarray(holdout_p99, dtype=np.float64)
    if c.shape != h.shape or c.ndim != 1:
        raise ValueError("p99 arrays must be 1-D and of the same length")
    ok = np.isfinite(c) & np.isfinite(h) & (c > 0) & (h > 0)
    if usable is not None:
        ok &= np.asarray(usable, dtype=bool)
    r = np.where(ok, c / np.where(ok, h, 1.0), np.nan)
    n = np.cumsum(ok)
    a, b = prior
    log_e = log_one_sided(np.cumsum(ok & (r > ratio)), n, restart_every=restart_every)
    half = int(round(span / step))
    grid = ratio * np.exp(step * np.arange(-half, half + 1))
    k = np.cumsum(ok[:, None] & (r[:, None] > grid[None, :]), axis=0, dtype=np.int64)
    score, cut = _grid_scores(k, n, a, b, alpha)
    lo, hi, estimate = grid_interval(score, cut, grid, below=0.0, above=math.inf)
    estimate = np.where(n > 0, estimate, np.nan)
    return from_log_e("p99_ratio", ratio, alpha, log_e, estimate, (lo, hi))
