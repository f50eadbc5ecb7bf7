"""What every anytime-valid test returns, and the two pieces they share: the p-value from an e-process and
the confidence sequence read off a grid of parameter values.

Every test here is an *e-process*: a non-negative process whose expectation stays at or below 1 under the
null at every stopping time, so by Ville's inequality P(sup_t E_t >= 1/alpha) <= alpha. The daemon may look
after every window, for weeks, and stop whenever it likes: the false-abort probability of "abort at the first
look with E_t >= 1/alpha" is at most alpha over the whole canary (Ramdas, Gruenwald, Vovk & Shafer, "Game-
theoretic statistics and safe anytime-valid inference", Statistical Science 2023). The always-valid p-value
is p_t = min(1, 1 / max_{s<=t} E_s).

Late regressions. A mixture over constant effects started at the first window weighs a regression that
begins on day 3 against three healthy days, and is slow to see it (hours to days). So every test mixes,
besides the effect sizes, over the window the effect may have started at: scheduled starts s_0 = 0,
s_j = j * ``restart_every``, with weights pi_0 = 1/2 and pi_j = 1 / (2 j (j + 1)) (they sum to 1). Each
e-process started at a fixed window is a test supermartingale for the whole canary (it is 1 before its
start), and so is their convex combination: the false-abort bound stays alpha over the whole canary. A
regression present from the start pays a factor 2 in evidence; one starting after j restarts pays
2 j (j + 1) (about 9 nats after three days of hourly restarts) instead of the weight of the healthy days.
With one alternative D_t = log-likelihood ratio so far, sum_s pi_s exp(D_t - D_{s-1}) = exp(D_t) sum_s
pi_s exp(-D_{s-1}) is a running sum, so all starts together cost no more than one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

_LOG_E_CAP = 700.0  # e-values are reported up to ~1e304 (finite, JSON-safe); the decision uses the log


@dataclass(frozen=True)
class SequentialResult:
    """One test over a stream of windows: one entry per look (one look after each window).

    ``null`` is the boundary of the null hypothesis in the effect's units (the guarded error ratio, the
    guarded p99 ratio, minus the safety tolerance); ``fired`` is the first look whose p-value is at most
    ``alpha`` (None when none is). ``ci_low``/``ci_high`` bound the effect at level 1 - alpha at every look
    at once; ``estimate`` is the point estimate the interval surrounds.
    """

    effect: str
    null: float
    alpha: float
    e_value: FloatArray
    p_value: FloatArray
    estimate: FloatArray
    ci_low: FloatArray
    ci_high: FloatArray
    fired: int | None

    def __len__(self) -> int:
        return int(self.e_value.size)

    def at(self, look: int = -1) -> dict[str, Any]:
        """Plain values of one look (the last by default), for a console, a notification or JSON.

        Non-finite numbers (an unbounded interval end, no estimate yet) become None, so the dict is JSON.
        """
        if not len(self):
            return {"effect": self.effect, "null": self.null, "alpha": self.alpha, "looks": 0, "fired": None}
        return {
            "effect": self.effect,
            "null": self.null,
            "alpha": self.alpha,
            "looks": len(self),
            "e_value": _plain(self.e_value[look]),
            "p_value": _plain(self.p_value[look]),
            "estimate": _plain(self.estimate[look]),
            "ci": [_plain(self.ci_low[look]), _plain(self.ci_high[look])],
            "level": 1.0 - self.alpha,
            "fired": self.fired,
        }


def _plain(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def check_alpha(alpha: float) -> float:
    """Refuse a level that is not a probability strictly between 0 and 1."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    return float(alpha)


def from_log_e(
    effect: str,
    null: float,
    alpha: float,
    log_e: FloatArray,
    estimate: FloatArray,
    bounds: tuple[FloatArray, FloatArray],
) -> SequentialResult:
    """Assemble a result from the log e-process: p-value from its running maximum, first crossing."""
    log_e = np.asarray(log_e, dtype=np.float64)
    running = np.maximum.accumulate(np.maximum(log_e, 0.0)) if log_e.size else log_e
    crossed = np.flatnonzero(running >= math.log(1.0 / alpha))
    return SequentialResult(
        effect=effect,
        null=float(null),
        alpha=alpha,
        e_value=np.exp(np.minimum(log_e, _LOG_E_CAP)),
        p_value=np.exp(-running),
        estimate=np.asarray(estimate, dtype=np.float64),
        ci_low=np.asarray(bounds[0], dtype=np.float64),
        ci_high=np.asarray(bounds[1], dtype=np.float64),
        fired=int(crossed[0]) if crossed.size else None,
    )


def _first_last(mask: NDArray[np.bool_]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    width = mask.shape[1]
    return mask.argmax(axis=1), width - 1 - mask[:, ::-1].argmax(axis=1)


def grid_interval(
    score: FloatArray, cut: FloatArray, grid: FloatArray, *, below: float, above: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Bracket {x : score_t(x) > cut_t} at every look from its values on a grid; also the grid maximiser.

    The e-value of each grid value x is M_t(x) = exp(cut_t - score_t(x)) / alpha, so the accepted set is
    where M_t < 1/alpha. ``score`` (looks x grid) must be quasi-concave along the grid at each look (its
    superlevel sets are intervals), which holds for every likelihood used here. Then the accepted set is an
    interval lying between the grid points just outside the accepted grid points; when no grid point is
    accepted it can only sit in a cell next to the grid maximisers. The bracket is therefore conservative
    by at most one grid step on each side, wherever the true value lies (on the grid or not). ``below`` and
    ``above`` stand for the points beyond the ends of the grid.
    """
    accepted = score > cut[:, None]
    some = accepted.any(axis=1)
    first, last = _first_last(accepted)
    at_max = score >= score.max(axis=1, keepdims=True)
    first_max, last_max = _first_last(at_max)
    lo_i = np.where(some, first, first_max) - 1
    hi_i = np.where(some, last, last_max) + 1
    size = grid.size
    lo = np.where(lo_i >= 0, grid[np.clip(lo_i, 0, size - 1)], below)
    hi = np.where(hi_i < size, grid[np.clip(hi_i, 0, size - 1)], above)
    return lo, hi, grid[(first_max + last_max) // 2]


def _log_sum_exp(x: FloatArray) -> FloatArray:
    """log sum exp along the last axis, for rows with at least one finite entry."""
    top = x.max(axis=-1, keepdims=True)
    return np.log(np.exp(x - top).sum(axis=-1)) + top[..., 0]


def restarted(log_ratio: FloatArray, log_prior: FloatArray, every: int | None) -> FloatArray:
    """Log of sum_s pi_s sum_g w_g exp(D^g_t - D^g_{s-1}) over the scheduled starts s <= t, at every look.

    ``log_ratio`` (looks x atoms) holds the cumulative log-likelihood ratios D^g_t of each alternative atom
    against the null, ``log_prior`` the atoms' log weights w_g. Starts are s_0 = 0 with pi_0 = 1/2 and
    s_j = j * every with pi_j = 1 / (2 j (j + 1)); a single start with pi_0 = 1 when ``every`` is falsy.
    """
    looks = log_ratio.shape[0]
    if not looks:
        return np.zeros(0)
    step = int(every) if every else looks
    starts = np.arange(0, looks, step)
    j = np.arange(starts.size, dtype=np.float64)
    log_pi = np.empty(starts.size)
    log_pi[0] = math.log(0.5) if every else 0.0  # fixed in advance: never depends on how many looks
    log_pi[1:] = -np.log(2 * j[1:] * (j[1:] + 1))
    before = np.where(starts[:, None] > 0, log_ratio[np.maximum(starts - 1, 0)], 0.0)
    since = np.logaddexp.accumulate(log_pi[:, None] - before, axis=0)[np.arange(looks) // step]
    return _log_sum_exp(log_prior[None, :] + log_ratio + since)


def normal_weights(offsets: FloatArray, scale: float) -> FloatArray:
    """Log weights of a discrete normal prior on the grid offsets (any discrete prior keeps validity)."""
    if scale <= 0:
        raise ValueError(f"prior scale must be positive, got {scale}")
    logw = -0.5 * (offsets / scale) ** 2
    return logw - np.logaddexp.reduce(logw)
