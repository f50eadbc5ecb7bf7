"""Anytime-valid test and confidence sequence for the canary - holdout difference of a safety metric.

Model. A safety metric of a window (higher is better) is the mean of per-request values in [0, 1] (a
resolution rate, a pass rate) over n requests. Given the window's traffic and the past, such a mean is
sub-Gaussian around its expectation with variance proxy v / n, v = 1/4 by Hoeffding's lemma (the value of
``variance_per_sample``; p (1 - p) <= 1/4 for a rate). The per-window difference d_t = canary - holdout,
with expectation mu_t, is then sub-Gaussian with sigma_t^2 = v (1/n_c + 1/n_h).

Weighting each window by its precision w_t = 1/sigma_t^2 (known before the value: it depends on the
traffic only), S_t = sum w_s (d_s - mu_s) is sub-Gaussian with variance process V_t = sum w_s, and for every
lambda, exp(lambda S_t - lambda^2 V_t / 2) is a supermartingale. Mixing lambda over N(0, 1/rho) gives
Robbins' normal mixture (Howard, Ramdas, McAuliffe & Sekhon, "Time-uniform, nonparametric, nonasymptotic
confidence sequences", Annals of Statistics 2021, eq. (14)): with probability >= 1 - alpha, at every look,

    |sum w_s d_s - V_t mu_bar_t| < sqrt((V_t + rho) log((V_t + rho) / (rho alpha^2))),

where mu_bar_t = sum w_s mu_s / V_t is the precision-weighted mean effect so far (mu_t may change with
time). Here lambda is in metric units, so rho = 1 / prior_scale^2.

Null and test. H0: mu_t >= -tolerance in every window (the canary is not worse by more than the policy's
tolerance). With S'_t = sum w_s (d_s + tolerance), each lambda < 0 gives exp(lambda S'_t - lambda^2 V_t / 2)
= exp(lambda S_t - lambda^2 V_t / 2) exp(lambda sum w_s (mu_s + tolerance)), a supermartingale times a
factor <= 1 under every point of H0. Mixing lambda over the half-normal (lambda < 0 only; in closed form
2 sqrt(rho / (V + rho)) exp(S'^2 / (2 (V + rho))) Phi(-S' / sqrt(V + rho)), here held at discrete atoms so
that restarts stay a running sum) gives the e-process; it fires when E_t >= 1/alpha.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from gatekeeper.canary.sequential.result import (
    FloatArray,
    SequentialResult,
    check_alpha,
    from_log_e,
    restarted,
)

_ATOMS = 40


def _precision(
    canary_n: FloatArray, holdout_n: FloatArray, valid: np.ndarray, variance_per_sample: float
) -> FloatArray:
    safe_c, safe_h = np.where(valid, canary_n, 1.0), np.where(valid, holdout_n, 1.0)
    return np.where(valid, 1.0 / (variance_per_sample * (1.0 / safe_c + 1.0 / safe_h)), 0.0)


def log_one_sided(
    shifted_sum: ArrayLike, precision: ArrayLike, rho: float, *, restart_every: int | None = None
) -> FloatArray:
    """Log of the half-normal (lambda < 0) mixture at each look, from cumulative S' and V, with restarts.

    The half-normal N(0, 1/rho) restricted to lambda < 0 is held at ``_ATOMS`` midpoints out to 4 prior
    standard deviations, a discrete prior (exact, no integral approximated).
    """
    s = np.atleast_1d(np.asarray(shifted_sum, dtype=np.float64))
    v = np.atleast_1d(np.asarray(precision, dtype=np.float64))
    x = (np.arange(_ATOMS) + 0.5) * 4.0 / _ATOMS
    lam = -x / math.sqrt(rho)
    log_prior = -0.5 * x**2 - np.logaddexp.reduce(-0.5 * x**2)
    return restarted(np.multiply.outer(s, lam) - np.multiply.outer(v, lam**2 / 2), log_prior, restart_every)


def mean_difference(
    canary_means: ArrayLike,
    holdout_means: ArrayLike,
    canary_n: ArrayLike,
    holdout_n: ArrayLike,
    *,
    tolerance: float = 0.0,
    alpha: float = 0.05,
    prior_scale: float = 0.02,
    variance_per_sample: float = 0.25,
    restart_every: int | None = 12,
    effect: str = "safety_difference",
) -> SequentialResult:
    """Test H0 "canary - holdout >= -tolerance in every window" at each window, and bound the difference.

    ``canary_n``/``holdout_n`` are the numbers of requests behind each window's value; a window whose
    value is missing (NaN) or whose n is not positive adds nothing. ``prior_scale`` (metric units) is the
    effect size the boundary is tuned for. The test restarts every ``restart_every`` windows (see
    ``result``); None tests from the first window only.
    """
    alpha = check_alpha(alpha)
    if tolerance < 0 or prior_scale <= 0 or variance_per_sample <= 0:
        raise ValueError("tolerance must be >= 0, prior_scale and variance_per_sample > 0")
    c, h = np.asarray(canary_means, dtype=np.float64), np.asarray(holdout_means, dtype=np.float64)
    nc, nh = np.asarray(canary_n, dtype=np.float64), np.asarray(holdout_n, dtype=np.float64)
    if not c.shape == h.shape == nc.shape == nh.shape or c.ndim != 1:
        raise ValueError("means and counts must be 1-D arrays of the same length")
    valid = np.isfinite(c) & np.isfinite(h) & (nc > 0) & (nh > 0)
    w = _precision(nc, nh, valid, variance_per_sample)
    v = np.cumsum(w)
    s = np.cumsum(np.where(valid, w * (np.where(valid, c, 0.0) - np.where(valid, h, 0.0)), 0.0))
    rho = 1.0 / prior_scale**2
    log_e = log_one_sided(s + tolerance * v, v, rho, restart_every=restart_every)
    with np.errstate(divide="ignore", invalid="ignore"):
        estimate = np.where(v > 0, s / v, np.nan)
        half = np.sqrt((v + rho) * np.log((v + rho) / (rho * alpha**2))) / v
    lo = np.where(v > 0, estimate - half, -math.inf)
    hi = np.where(v > 0, estimate + half, math.inf)
    return from_log_e(effect, -tolerance if tolerance else 0.0, alpha, log_e, estimate, (lo, hi))
