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
tolerance). Mixing only lambda < 0 (a half-normal) over S'_t = sum w_s (d_s + tolerance) gives the e-process

    E_t = 2 sqrt(rho / (V_t + rho)) exp(S'^2 / (2 (V_t + rho))) Phi(-S' / sqrt(V_t + rho)),

valid under every point of H0 (each component is exp(lambda S_t - lambda^2 V_t / 2) times a factor <= 1).
It fires when E_t >= 1/alpha; since it is at least the two-sided mixture whenever S' < 0, it fires no later
than the confidence sequence clears -tolerance.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import log_ndtr

from gatekeeper.canary.sequential.result import FloatArray, SequentialResult, check_alpha, from_log_e


def _precision(
    canary_n: FloatArray, holdout_n: FloatArray, valid: np.ndarray, variance_per_sample: float
) -> FloatArray:
    safe_c, safe_h = np.where(valid, canary_n, 1.0), np.where(valid, holdout_n, 1.0)
    return np.where(valid, 1.0 / (variance_per_sample * (1.0 / safe_c + 1.0 / safe_h)), 0.0)


def log_one_sided(shifted_sum: ArrayLike, precision: ArrayLike, rho: float) -> FloatArray:
    """Log of the half-normal (lambda < 0) mixture at S' = ``shifted_sum`` and V = ``precision``."""
    s, v = np.asarray(shifted_sum, dtype=np.float64), np.asarray(precision, dtype=np.float64)
    scale = v + rho
    return math.log(2.0) + 0.5 * np.log(rho / scale) + s**2 / (2.0 * scale) + log_ndtr(-s / np.sqrt(scale))


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
    effect: str = "safety_difference",
) -> SequentialResult:
    """Test H0 "canary - holdout >= -tolerance in every window" at each window, and bound the difference.

    ``canary_n``/``holdout_n`` are the numbers of requests behind each window's value; a window whose
    value is missing (NaN) or whose n is not positive adds nothing. ``prior_scale`` (metric units) is the
    effect size the boundary is tuned for.
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
    log_e = log_one_sided(s + tolerance * v, v, rho)
    with np.errstate(divide="ignore", invalid="ignore"):
        estimate = np.where(v > 0, s / v, np.nan)
        half = np.sqrt((v + rho) * np.log((v + rho) / (rho * alpha**2))) / v
    lo = np.where(v > 0, estimate - half, -math.inf)
    hi = np.where(v > 0, estimate + half, math.inf)
    return from_log_e(effect, -tolerance if tolerance else 0.0, alpha, log_e, estimate, (lo, hi))
