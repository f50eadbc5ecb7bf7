"""Anytime-valid test and confidence sequence for the canary/holdout ratio of two count rates (errors,
exceptions), after Lindon, Sanden & Shirikian, "Rapid Regression Detection in Software Deployments through
Sequential Testing" (KDD 2022) and Lindon & Malek, "Anytime-Valid Inference for Multinomial Count Data"
(NeurIPS 2022).

Model. In window t the canary serves n_c requests and the holdout n_h; their counts are Poisson with rates
theta_t * lambda_t * n_c and lambda_t * n_h, where lambda_t (the traffic's own error level) may change from
window to window at will. Conditional on the window's total N_t = c_t + h_t, the canary's count is

    c_t | N_t ~ Binomial(N_t, p_t(theta_t)),   p_t(theta) = theta * n_c / (theta * n_c + n_h),

free of lambda_t: the nuisance cancels, and p_t carries each window's own exposures (the canary's share of
traffic may drift). Per-request Bernoulli errors with a shared rate give a hypergeometric rather than a
binomial split; the hypergeometric is dominated by the binomial in convex order (Hoeffding 1963) and every
likelihood ratio below is convex in c_t, so the tests stay valid (slightly conservative) there too.

Null and test. H0: theta_t <= theta0 in every window (theta0 = the guarded ratio, e.g. 1.0 "no worse" or
1.5 "fire only when the error ratio is credibly above 1.5"). For any theta > theta0 the window likelihood
ratio L_t(theta) / L_t(theta0) has conditional mean [p' p/p0 + (1-p')(1-p)/(1-p0)]^N <= 1 whenever
p' = p_t(theta_t) <= p0 = p_t(theta0), so it is a supermartingale factor under every point of H0, even when
theta_t changes with time. A discrete prior over theta > theta0 (a half-normal of scale ``prior_scale``
on log(theta/theta0), held at every 4th grid point, 0.1 apart) mixes these exactly, with no integral to
approximate: E_t = sum_g w_g prod_s L_s(theta_g) / L_s(theta0) is an e-process for H0, and the test fires
when E_t >= 1/alpha (mixed over restarts, see ``result``).

Confidence sequence. For a constant ratio theta*, the two-sided mixture m_t / L_t(theta*) (m_t = the
marginal likelihood of a normal prior on log theta centred at log theta0, on the same atoms) is a
martingale, so {theta : m_t / L_t(theta) < 1/alpha} covers theta* at all looks with probability >= 1 - alpha.
The log-likelihood is concave in log theta, so the set is an interval; ``result.grid_interval`` brackets it
on the grid.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gatekeeper.canary.sequential.result import (
    FloatArray,
    SequentialResult,
    check_alpha,
    from_log_e,
    grid_interval,
    normal_weights,
    restarted,
)

_STRIDE = 4
IntArray = NDArray[np.intp]


def _log_likelihood(
    canary: FloatArray, total: FloatArray, share: FloatArray, theta: FloatArray
) -> FloatArray:
    """Cumulative conditional binomial log-likelihood at each look and grid ratio, up to a per-look constant.

    With s = n_c / n_h, log p = log(theta s) - log(1 + theta s) and log(1 - p) = -log(1 + theta s), so a
    window adds c log(theta) - N log(1 + theta s) plus c log(s), which is the same for every theta and is
    dropped (only differences across theta are ever used).
    """
    out = np.multiply.outer(share, theta)
    np.log1p(out, out=out)
    out *= -total[:, None]
    np.cumsum(out, axis=0, out=out)
    out += np.multiply.outer(np.cumsum(canary), np.log(theta))
    return out


def _counts(*columns: ArrayLike) -> list[FloatArray]:
    arrays = [np.asarray(c, dtype=np.float64) for c in columns]
    if len({a.shape for a in arrays}) != 1 or arrays[0].ndim != 1:
        raise ValueError("counts and exposures must be 1-D arrays of the same length")
    if any(np.any(a < 0) for a in arrays):
        raise ValueError("counts and exposures must be non-negative")
    return arrays


def _prepared(
    columns: tuple[ArrayLike, ...], ratio: float
) -> tuple[FloatArray, FloatArray, FloatArray, NDArray[np.bool_]]:
    """Canary counts, window totals and exposure shares, zero where a window adds nothing; and that mask."""
    if ratio <= 0:
        raise ValueError(f"ratio must be positive, got {ratio}")
    c, nc, h, nh = _counts(*columns)
    usable = (nc > 0) & (nh > 0) & (c + h > 0)
    share = np.where(usable, nc, 0.0) / np.where(usable, nh, 1.0)
    return np.where(usable, c, 0.0), np.where(usable, c + h, 0.0), share, usable


def _offsets(step: float, span: float) -> tuple[FloatArray, IntArray]:
    """The log-ratio grid's offsets from the null, and the prior's atoms (every 4th, through offset 0)."""
    half = int(round(span / step))
    offsets: FloatArray = step * np.arange(-half, half + 1, dtype=np.float64)
    return offsets, np.arange(half % _STRIDE, offsets.size, _STRIDE)


def _log_e(ll: FloatArray, offsets: FloatArray, prior_scale: float, restart_every: int | None) -> FloatArray:
    """The one-sided mixture over the atoms above the null (the column at offset 0), with restarts."""
    up = offsets > 0
    null = ll[:, np.flatnonzero(offsets == 0)]
    return restarted(ll[:, up] - null, normal_weights(offsets[up], prior_scale), restart_every)


def rate_e_process(
    *columns: ArrayLike,
    ratio: float = 1.0,
    prior_scale: float = 0.5,
    step: float = 0.025,
    span: float = 2.5,
    restart_every: int | None = 12,
) -> FloatArray:
    """The log e-process of ``rate_ratio`` (same arguments, same values) without its interval: a tick of
    the daemon needs only the decision, at an eighth of the cost."""
    c, total, share, _ = _prepared(columns, ratio)
    offsets, atoms = _offsets(step, span)
    ll = _log_likelihood(c, total, share, ratio * np.exp(offsets[atoms]))
    return _log_e(ll, offsets[atoms], prior_scale, restart_every)


def rate_ratio(
    canary_counts: ArrayLike,
    canary_exposure: ArrayLike,
    holdout_counts: ArrayLike,
    holdout_exposure: ArrayLike,
    *,
    ratio: float = 1.0,
    alpha: float = 0.05,
    prior_scale: float = 0.5,
    step: float = 0.025,
    span: float = 2.5,
    restart_every: int | None = 12,
    effect: str = "error_ratio",
) -> SequentialResult:
    """Test H0 "canary rate <= ratio x holdout rate in every window" at each window, and bound the ratio.

    Arrays hold one window each, in time order (counts and requests per window, not cumulative). A window
    without requests in either group or without any count adds nothing. ``prior_scale`` is the spread of
    the mixing prior on log(theta / ratio); ``step``/``span`` set the log-ratio grid (the interval is
    conservative by at most one ``step``, i.e. 2.5 %, on each side, and is cut at ratio * exp(+-span)).
    The test restarts every ``restart_every`` windows (see ``result``); None tests from the first only.
    """
    alpha = check_alpha(alpha)
    columns = (canary_counts, canary_exposure, holdout_counts, holdout_exposure)
    c, total, share, usable = _prepared(columns, ratio)
    offsets, atoms = _offsets(step, span)
    grid = ratio * np.exp(offsets)
    ll = _log_likelihood(c, total, share, grid)
    log_e = _log_e(ll[:, atoms], offsets[atoms], prior_scale, restart_every)
    top = ll[:, atoms].max(axis=1)
    lik = np.exp(ll[:, atoms] - top[:, None])
    log_marginal = np.log(lik @ np.exp(normal_weights(offsets[atoms], prior_scale))) + top
    cut = log_marginal - math.log(1.0 / alpha)
    lo, hi, estimate = grid_interval(ll, cut, grid, below=0.0, above=math.inf)
    estimate = np.where(np.cumsum(usable) > 0, estimate, np.nan)
    return from_log_e(effect, ratio, alpha, log_e, estimate, (lo, hi))
