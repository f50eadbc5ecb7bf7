"""``samples_to_decide`` against simulation: at the predicted N, the paired bootstrap CI's half-width
has shrunk to the observed margin (the point at which the comparison is decided)."""

from __future__ import annotations

import numpy as np
import pytest

from gatekeeper.evaluation.stats import paired_bootstrap_mean, samples_to_decide

# Paired per-example differences in {-1, 0, +1} (candidate right / both equal / champion right):
# P(-1) = 0.06, P(+1) = 0.08, so delta = +0.02 with sd ~ 0.374; tolerance 0 (the bound is 0).
VALUES, PROBS = np.array([-1.0, 0.0, 1.0]), np.array([0.06, 0.86, 0.08])


def _draw(
    rng: np.random.Generator, n: int, values: np.ndarray = VALUES, probs: np.ndarray = PROBS
) -> np.ndarray:
    return rng.choice(values, size=n, p=probs)


def _lower_half_width(diffs: np.ndarray, seed: int) -> float:
    c = paired_bootstrap_mean(diffs, np.zeros_like(diffs), n_resamples=1000, seed=seed)
    assert c.ci_low is not None
    return c.delta - c.ci_low


def test_predicted_n_from_a_pilot_decides_at_the_pilot_effect_and_spread() -> None:
    rng = np.random.default_rng(7)
    pilot = _draw(rng, 400)
    c = paired_bootstrap_mean(pilot, np.zeros_like(pilot), n_resamples=1000, seed=0)
    assert c.ci_low is not None and c.ci_low < 0 < c.delta  # under-powered: the CI straddles the bound
    n = samples_to_decide(n=400, estimate=c.delta, bound=0.0, ci_low=c.ci_low, ci_high=c.ci_high)
    assert n is not None and n > 400
    # Samples of N (and N / 2) from the pilot's own distribution: same effect, same spread.
    observed, counts = np.unique(pilot, return_counts=True)
    probs = counts / counts.sum()
    at_n = [_lower_half_width(_draw(rng, n, observed, probs), s) for s in range(30)]
    at_half = [_lower_half_width(_draw(rng, n // 2, observed, probs), s) for s in range(30)]
    assert np.median(at_n) == pytest.approx(c.delta, rel=0.06)
    assert np.median(at_half) > c.delta * 1.25  # ~ sqrt(2) x the margin: not decided yet


def test_predicted_n_from_the_true_spread_matches_simulated_intervals() -> None:
    delta = float(VALUES @ PROBS)
    sd = float(np.sqrt((VALUES**2) @ PROBS - delta**2))
    half = 1.959964 * sd / np.sqrt(500)
    n = samples_to_decide(n=500, estimate=delta, bound=0.0, ci_low=delta - half, ci_high=delta + half)
    assert n == pytest.approx(500 * (half / delta) ** 2, abs=1)
    rng = np.random.default_rng(11)
    widths = [_lower_half_width(_draw(rng, n), s) for s in range(40)]
    assert np.median(widths) == pytest.approx(delta, rel=0.05)


def test_edges() -> None:
    assert samples_to_decide(n=100, estimate=0.0, bound=0.0, ci_low=-0.1, ci_high=0.1) is None  # a tie
    assert samples_to_decide(n=100, estimate=0.05, bound=0.0, ci_low=None, ci_high=None) is None
    assert samples_to_decide(n=100, estimate=0.05, bound=0.0, ci_low=0.01, ci_high=0.09) == 100  # decided
    # Below the bound, the upper side faces it: margin 0.01, half-width 0.02 -> 4 x n.
    assert samples_to_decide(n=100, estimate=-0.03, bound=-0.02, ci_low=-0.06, ci_high=-0.01) == 400
