"""Anytime-valid canary statistics: closed forms against brute force and scipy, then seeded simulations of
healthy and regressed canaries looked at after every 5-minute window (false aborts, coverage, power)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from scipy import integrate, stats

from gatekeeper.canary.sequential import SequentialResult, mean_difference, p99_ratio, rate_ratio
from gatekeeper.canary.sequential.latency import log_beta_binomial, log_one_sided
from gatekeeper.canary.sequential.means import log_one_sided as log_half_normal
from gatekeeper.canary.sequential.result import restarted
from gatekeeper.canary.simulate import SAFETY_METRIC, Batch, Profile, Regression, batch, healthy_stream

ALPHA = 0.05
DAY = 288  # 5-minute windows
WEEK = 7 * DAY


# ---------------------------------------------------------------------------------------------------------
# Seeded streams, many at once: the shipped simulator's noise model as (streams x windows) arrays
# (gatekeeper.canary.simulate.batch), so that 1,000 canaries take seconds; each starts at a random hour.

Streams = Batch
simulate = batch


def errors_test(s: Streams, i: int, ratio: float = 1.0, **kw: Any) -> SequentialResult:
    c, nc, h, nh = s.canary_errors[i], s.canary_requests[i], s.holdout_errors[i], s.holdout_requests[i]
    return rate_ratio(c, nc, h, nh, ratio=ratio, **kw)


def latency_test(s: Streams, i: int, ratio: float = 1.0, **kw: Any) -> SequentialResult:
    usable = (s.canary_requests[i] >= 50) & (s.holdout_requests[i] >= 50)
    return p99_ratio(s.canary_p99[i], s.holdout_p99[i], ratio=ratio, usable=usable, **kw)


def safety_test(s: Streams, i: int, tolerance: float = 0.0, **kw: Any) -> SequentialResult:
    f = s.safety_fraction
    return mean_difference(
        s.canary_safety[i],
        s.holdout_safety[i],
        np.round(s.canary_requests[i] * f),
        np.round(s.holdout_requests[i] * f),
        tolerance=tolerance,
        **kw,
    )


TESTS = {"error_rate": errors_test, "latency_p99": latency_test, "safety": safety_test}


def mc_bound(rate: float, n: int) -> float:
    """alpha plus three Monte-Carlo standard errors of a rate estimated from n runs."""
    return rate + 3 * math.sqrt(rate * (1 - rate) / n)


def run_all(s: Streams, test, **kw) -> list[SequentialResult]:
    return [test(s, i, **kw) for i in range(s.canary_requests.shape[0])]


def covered(results: list[SequentialResult], truth: float) -> float:
    inside = [bool(np.all((r.ci_low <= truth) & (truth <= r.ci_high))) for r in results]
    return float(np.mean(inside))


def delays(results: list[SequentialResult], onset: int = 0) -> tuple[float, float, float]:
    """Detection rate, median and p90 delay in minutes after the regression's first window ``onset`` (the
    look after window i is 5 (i + 1) minutes in); a trigger before the onset is a miss."""
    fired = [5 * (r.fired + 1 - onset) for r in results if r.fired is not None and r.fired >= onset]
    if not fired:
        return 0.0, math.inf, math.inf
    return len(fired) / len(results), float(np.median(fired)), float(np.percentile(fired, 90))


def late(n: int, windows: int, seed: int, onset: int, **change: float) -> Streams:
    """Healthy streams whose canary regresses from window ``onset`` on."""
    healthy, regressed = simulate(n, windows, seed), simulate(n, windows, seed, **change)
    fields = {}
    for name, value in healthy.__dict__.items():
        if isinstance(value, np.ndarray):
            value = value.copy()
            value[:, onset:] = getattr(regressed, name)[:, onset:]
        fields[name] = value
    return Streams(**fields)


# ---------------------------------------------------------------------------------------------------------
# Closed forms, by hand


def test_rate_ratio_e_value_is_the_half_normal_mixture_of_binomial_likelihood_ratios() -> None:
    c, nc, h, nh = [3, 1], [100, 120], [2, 4], [300, 200]
    result = rate_ratio(c, nc, h, nh, ratio=1.2, prior_scale=0.5, restart_every=None)
    offsets = 0.1 * np.arange(1, 26)  # the prior's atoms above the null, every 4th point of a 0.025 grid
    weights = np.exp(-0.5 * (offsets / 0.5) ** 2)
    weights /= weights.sum()

    def likelihood(theta: float, upto: int) -> float:
        p = [theta * nc[t] / (theta * nc[t] + nh[t]) for t in range(upto)]
        return math.prod(stats.binom.pmf(c[t], c[t] + h[t], p[t]) for t in range(upto))

    for look in (0, 1):
        mix = sum(w * likelihood(1.2 * math.exp(o), look + 1) for w, o in zip(weights, offsets, strict=True))
        assert result.e_value[look] == pytest.approx(mix / likelihood(1.2, look + 1), rel=1e-9)
    assert result.p_value[1] == pytest.approx(min(1.0, 1 / max(1.0, *result.e_value)))
    assert result.null == 1.2 and result.fired is None


def test_rate_ratio_interval_brackets_every_accepted_ratio_within_one_grid_step() -> None:
    rng = np.random.default_rng(5)
    nc, nh = rng.poisson(200, 40), rng.poisson(2000, 40)
    c, h = rng.binomial(nc, 0.02), rng.binomial(nh, 0.01)
    result = rate_ratio(c, nc, h, nh, alpha=0.1)
    atoms = np.exp(0.1 * np.arange(-25, 26))
    weights = np.exp(-0.5 * (np.log(atoms) / 0.5) ** 2)
    weights /= weights.sum()

    def log_lik(theta: np.ndarray) -> np.ndarray:
        p = theta[:, None] * nc / (theta[:, None] * nc + nh)
        return stats.binom.logpmf(c, c + h, p).sum(axis=1)

    log_marginal = np.logaddexp.reduce(np.log(weights) + log_lik(atoms))
    fine = np.exp(np.linspace(-2, 2, 4001))
    accepted = fine[log_marginal - log_lik(fine) < math.log(10)]
    lo, hi = result.ci_low[-1], result.ci_high[-1]
    assert lo <= accepted.min() and accepted.max() <= hi
    assert accepted.min() / lo <= math.exp(0.0251) and hi / accepted.max() <= math.exp(0.0251)
    assert lo < result.estimate[-1] < hi


def test_p99_one_sided_e_value_is_the_uniform_mixture_over_q_above_one_half() -> None:
    q = 0.5 + (np.arange(50) + 0.5) / 100
    for k, n in [(3, 3), (7, 10), (0, 4), (20, 30)]:
        brute = np.mean((2 * q) ** k * (2 * (1 - q)) ** (n - k))
        mixture = math.exp(log_one_sided([k], [n])[0])
        assert mixture == pytest.approx(brute, rel=1e-12)
        exact = integrate.quad(lambda x, k=k, n=n: 2 * (2 * x) ** k * (2 * (1 - x)) ** (n - k), 0.5, 1)[0]
        assert mixture == pytest.approx(exact, rel=1e-3)


def test_beta_binomial_mixture_matches_the_integral() -> None:
    for k, n, a, b in [(3, 5, 1.0, 1.0), (0, 6, 2.0, 3.0), (12, 12, 0.5, 0.5)]:
        density = stats.beta(a, b).pdf
        exact = integrate.quad(
            lambda x, k=k, n=n, f=density: f(x) * (2 * x) ** k * (2 * (1 - x)) ** (n - k), 0, 1
        )
        assert math.exp(log_beta_binomial(k, n, a, b)) == pytest.approx(exact[0], rel=1e-6)


def test_p99_by_hand_three_slow_windows_of_three() -> None:
    result = p99_ratio([200.0, 210.0, 190.0], [180.0, 180.0, 180.0], ratio=1.0, restart_every=None)
    q = 0.5 + (np.arange(50) + 0.5) / 100
    assert result.e_value == pytest.approx([np.mean((2 * q) ** k) for k in (1, 2, 3)])
    assert result.fired is None
    # E_n = mean (2q)^n ~ (2^(n+1) - 1) / (n + 1): 18.1 after six slow windows, 31.9 after seven.
    seven = p99_ratio([200.0] * 7, [180.0] * 7, restart_every=None)
    assert seven.e_value[5] < 1 / ALPHA <= seven.e_value[6] and seven.fired == 6


def test_safety_e_value_is_the_discrete_half_normal_mixture_and_close_to_the_integral() -> None:
    rho, s, v = 1 / 0.02**2, -40.0, 3000.0
    x = (np.arange(40) + 0.5) * 0.1
    weights = np.exp(-0.5 * x**2) / np.exp(-0.5 * x**2).sum()
    lam = -x * 0.02
    brute = float(np.sum(weights * np.exp(lam * s - lam**2 * v / 2)))
    mixture = math.exp(log_half_normal([s], [v], rho)[0])
    assert mixture == pytest.approx(brute, rel=1e-12)

    def component(lam: float) -> float:
        return math.exp(lam * s - lam**2 * v / 2) * stats.norm(0, 1 / math.sqrt(rho)).pdf(lam)

    assert mixture == pytest.approx(2 * integrate.quad(component, -np.inf, 0)[0], rel=0.02)


def test_safety_boundary_matches_the_normal_mixture_integral() -> None:
    rho = 1 / 0.02**2
    result = mean_difference([0.80, 0.82], [0.86, 0.85], [400, 500], [40000, 50000], tolerance=0.01)
    w = 1 / (0.25 * (1 / np.array([400, 500]) + 1 / np.array([40000, 50000])))
    d = np.array([0.80 - 0.86, 0.82 - 0.85])
    big_v, big_s = w.sum(), (w * d).sum()
    two_sided = integrate.quad(
        lambda lam: (
            math.exp(lam * (big_s - big_v * result.estimate[1]) - lam**2 * big_v / 2)
            * stats.norm(0, 0.02).pdf(lam)
        ),
        -np.inf,
        np.inf,
    )[0]
    assert two_sided == pytest.approx(math.sqrt(rho / (big_v + rho)), rel=1e-6)  # centred: exp(0) term
    radius = math.sqrt((big_v + rho) * math.log((big_v + rho) / (rho * 0.05**2))) / big_v
    assert result.ci_high[1] - result.estimate[1] == pytest.approx(radius)
    assert result.estimate[1] == pytest.approx(big_s / big_v)
    edge = result.ci_high[1]  # on the boundary the two-sided mixture equals exactly 1/alpha
    at_edge = integrate.quad(
        lambda lam: (
            math.exp(lam * (big_s - big_v * edge) - lam**2 * big_v / 2) * stats.norm(0, 0.02).pdf(lam)
        ),
        -np.inf,
        np.inf,
    )[0]
    assert at_edge == pytest.approx(20.0, rel=1e-6)


def test_restarts_mix_e_processes_started_at_scheduled_windows() -> None:
    rng = np.random.default_rng(3)
    log_ratio = np.cumsum(rng.normal(0, 1, (7, 3)), axis=0)
    log_prior = np.log([0.2, 0.3, 0.5])
    got = restarted(log_ratio, log_prior, 2)
    before = np.vstack([np.zeros(3), log_ratio[:-1]])
    weights = {0: 0.5, 2: 1 / 4, 4: 1 / 12, 6: 1 / 24}  # pi_j = 1 / (2 j (j + 1))
    for t in range(7):
        brute = sum(
            pi * np.sum(np.exp(log_prior + log_ratio[t] - before[start]))
            for start, pi in weights.items()
            if start <= t
        )
        assert math.exp(got[t]) == pytest.approx(brute, rel=1e-12)
    assert restarted(log_ratio, log_prior, None) == pytest.approx(
        np.logaddexp.reduce(log_prior + log_ratio, axis=1)
    )


def test_a_look_depends_only_on_the_windows_before_it() -> None:
    """What the daemon computes at a tick equals what a backtest computes at that look over a longer run."""
    streams = simulate(3, 100, seed=4, error_ratio=1.5, latency_ratio=1.2, safety_shift=-0.02)
    for test in TESTS.values():
        for i in range(3):
            whole = test(streams, i)
            cut = Streams(
                **{k: v[:, :40] if isinstance(v, np.ndarray) else v for k, v in streams.__dict__.items()}
            )
            part = test(cut, i)
            for name in ("e_value", "p_value", "ci_low", "ci_high", "estimate"):
                np.testing.assert_allclose(getattr(part, name), getattr(whole, name)[:40], rtol=1e-9)
            assert part.fired == (whole.fired if whole.fired is not None and whole.fired < 40 else None)


# ---------------------------------------------------------------------------------------------------------
# Edges: no evidence, no decision


def test_no_data_gives_p_one_and_an_unbounded_interval() -> None:
    nan = [math.nan, math.nan]
    results = [
        rate_ratio([0, 0], [100, 0], [0, 5], [1000, 0]),
        p99_ratio(nan, [180.0, 180.0]),
        mean_difference(nan, [0.9, 0.9], [10, 10], [100, 100]),
    ]
    for result in results:
        assert result.fired is None and result.p_value == pytest.approx([1.0, 1.0])
        assert np.all(result.ci_low <= 0.0) and np.all(np.isinf(result.ci_high))
        assert np.all(np.isnan(result.estimate))
    assert results[0].at()["ci"] == [0.0, None] and results[0].at()["estimate"] is None
    assert rate_ratio([], [], [], []).at() == {
        "effect": "error_ratio",
        "null": 1.0,
        "alpha": 0.05,
        "looks": 0,
        "fired": None,
    }


def test_zero_holdout_errors_are_evidence_only_in_proportion_to_exposure() -> None:
    one = rate_ratio([1], [900], [0], [900])
    assert one.fired is None and one.p_value[0] > 0.5
    many = rate_ratio([30] * 3, [900] * 3, [0] * 3, [90000] * 3)
    assert many.fired == 0 and many.ci_low[0] > 5


def test_invalid_input_is_refused() -> None:
    with pytest.raises(ValueError, match="alpha"):
        rate_ratio([1], [10], [1], [10], alpha=1.0)
    with pytest.raises(ValueError, match="same length"):
        rate_ratio([1, 2], [10], [1], [10])
    with pytest.raises(ValueError, match="non-negative"):
        rate_ratio([-1], [10], [1], [10])
    with pytest.raises(ValueError, match="ratio"):
        p99_ratio([1.0], [1.0], ratio=0.0)
    with pytest.raises(ValueError, match="tolerance"):
        mean_difference([0.5], [0.5], [10], [10], tolerance=-0.1)


def test_at_reports_plain_values_of_a_look() -> None:
    result = rate_ratio([30, 30], [1000, 1000], [100, 100], [10000, 10000], ratio=1.5)
    last = result.at()
    assert last["fired"] == result.fired == 0 and last["looks"] == 2 and last["level"] == 0.95
    assert last["ci"][0] > 1.5 and all(isinstance(x, float) for x in last["ci"])
    assert result.at(0)["p_value"] == pytest.approx(float(result.p_value[0]))


# ---------------------------------------------------------------------------------------------------------
# Simulation: 1,000 healthy canaries, one look per window


@pytest.mark.parametrize("name", list(TESTS))
def test_a_thousand_healthy_canary_days_abort_at_most_alpha_and_are_covered(name: str) -> None:
    results = run_all(simulate(1000, DAY, seed=11), TESTS[name])
    rate = np.mean([r.fired is not None for r in results])
    share = covered(results, 0.0 if name == "safety" else 1.0)
    print(f"\n{name}: false aborts {rate:.3f}, coverage {share:.3f} over 1,000 healthy canary-days")
    assert rate <= mc_bound(ALPHA, 1000)
    assert share >= 1 - mc_bound(ALPHA, 1000)


def test_coverage_holds_under_a_regression_too() -> None:
    streams = simulate(400, DAY, seed=13, error_ratio=2.0, latency_ratio=1.5, safety_shift=-0.03)
    assert covered(run_all(streams, errors_test), 2.0) >= 1 - mc_bound(ALPHA, 400)
    assert covered(run_all(streams, latency_test), 1.5) >= 1 - mc_bound(ALPHA, 400)
    assert covered(run_all(streams, safety_test), -0.03) >= 1 - mc_bound(ALPHA, 400)


def test_error_test_stays_valid_when_the_ratio_wanders_below_the_null() -> None:
    streams = simulate(1000, DAY, seed=14)
    rng = np.random.default_rng(14)
    theta = np.where(rng.random(streams.canary_errors.shape) < 0.5, 1.0, 0.6)  # canary sometimes better
    errors = rng.binomial(streams.canary_requests, np.clip(0.005 * theta, 0, 1))
    fired = [
        rate_ratio(
            errors[i], streams.canary_requests[i], streams.holdout_errors[i], streams.holdout_requests[i]
        )
        for i in range(1000)
    ]
    assert np.mean([r.fired is not None for r in fired]) <= mc_bound(ALPHA, 1000)


# ---------------------------------------------------------------------------------------------------------
# Power: regressions from the first window


POWER = [
    ("error ratio 1.5x", errors_test, {"error_ratio": 1.5}, {}),
    ("error ratio 2x", errors_test, {"error_ratio": 2.0}, {}),
    ("error ratio 3x", errors_test, {"error_ratio": 3.0}, {}),
    ("p99 +50 %", latency_test, {"latency_ratio": 1.5}, {}),
    ("safety -2 sigma", safety_test, {"safety_shift": -0.03}, {"tolerance": 0.01}),
]


@pytest.mark.parametrize(("label", "test", "change", "kw"), POWER, ids=[p[0] for p in POWER])
def test_regressions_are_detected_within_a_day(label: str, test, change: dict, kw: dict) -> None:
    streams = simulate(200, DAY, seed=21, **change)
    rate, median, _ = delays(run_all(streams, test, **kw))
    print(f"\n{label}: detected {rate:.1%} within a day, median delay {median:.0f} min")
    assert rate >= 0.95 and median <= 6 * 60


@pytest.mark.parametrize(("label", "test", "change", "kw"), POWER, ids=[p[0] for p in POWER])
def test_a_regression_that_starts_on_day_two_is_caught_within_hours(label: str, test, change, kw) -> None:
    """Restarts: the healthy first day does not dilute the evidence of a later regression."""
    streams = late(100, 2 * DAY, 23, DAY, **change)
    rate, median, _ = delays(run_all(streams, test, **kw), onset=DAY)
    slow_rate, slow_median, _ = delays(run_all(streams, test, restart_every=None, **kw), onset=DAY)
    print(
        f"\n{label} from day 2: {rate:.0%} within a day, median {median:.0f} min after the onset "
        f"(without restarts {slow_rate:.0%}, {slow_median:.0f} min)"
    )
    assert rate >= 0.9 and median <= 4 * 60  # a false abort on the healthy first day counts as a miss


def test_two_sigma_is_what_the_seed_rule_calls_two_sigma() -> None:
    streams = simulate(200, DAY, seed=22)
    sigma = np.nanmedian(np.nanstd(streams.holdout_safety, axis=1, ddof=1))
    assert 0.012 <= sigma <= 0.018  # so -0.03 is about -2 sigma of the holdout's trailing-24 h spread


# ---------------------------------------------------------------------------------------------------------
# The shipped simulator's own streams


def _columns(windows: list, group: str) -> dict[str, np.ndarray]:
    chosen = [w for w in windows if w.group == group]
    return {
        "requests": np.array([w.requests for w in chosen], dtype=float),
        "errors": np.array([w.errors for w in chosen], dtype=float),
        "p99": np.array([w.latency_p99_ms for w in chosen]),
        "safety": np.array([w.safety.get(SAFETY_METRIC, math.nan) for w in chosen]),
    }


def _shipped(seed: int, regression: Regression | None) -> list[SequentialResult]:
    windows = healthy_stream(datetime(2025, 1, 6, tzinfo=UTC), 2.0, seed, regression=regression)
    c, h = _columns(windows, "canary"), _columns(windows, "holdout")
    f = Profile().safety_fraction
    usable = (c["requests"] >= 50) & (h["requests"] >= 50)
    return [
        rate_ratio(c["errors"], c["requests"], h["errors"], h["requests"]),
        p99_ratio(c["p99"], h["p99"], usable=usable),
        mean_difference(c["safety"], h["safety"], np.round(c["requests"] * f), np.round(h["requests"] * f)),
    ]


def test_shipped_simulator_streams_healthy_and_regressed() -> None:
    from datetime import timedelta

    healthy = [_shipped(seed, None) for seed in range(20)]
    assert sum(r.fired is not None for results in healthy for r in results) <= 3
    for kind, magnitude, index in [("error_rate", 2.0, 0), ("latency_p99", 1.5, 1), ("safety", -0.03, 2)]:
        change = Regression(kind, timedelta(0), timedelta(days=2), magnitude)
        assert _shipped(100, change)[index].fired is not None, kind


# ---------------------------------------------------------------------------------------------------------
# The whole canary: 1,000 healthy canary-weeks (slow), and the detection-delay table


@pytest.mark.slow
def test_a_thousand_healthy_canary_weeks_abort_at_most_alpha_and_are_covered() -> None:
    """Each test alone at alpha, and the rule "any of the three, each at alpha / 3" (Bonferroni)."""
    streams = simulate(1000, WEEK, seed=31)
    any_fired = np.zeros(1000, dtype=bool)
    for name, test in TESTS.items():
        results = run_all(streams, test)
        rate = np.mean([r.fired is not None for r in results])
        share = covered(results, 0.0 if name == "safety" else 1.0)
        print(f"\n{name}: false aborts {rate:.3f}, coverage {share:.3f} over 1,000 healthy canary-weeks")
        assert rate <= mc_bound(ALPHA, 1000) and share >= 1 - mc_bound(ALPHA, 1000)
        any_fired |= [r.fired is not None for r in run_all(streams, test, alpha=ALPHA / 3)]
    print(f"any of the three at alpha/3: false aborts {any_fired.mean():.3f}")
    assert any_fired.mean() <= mc_bound(ALPHA, 1000)


STREAMS = 120  # per row; benchmarks/backtest.py prints the rules' table (1,000 healthy, 200 per regression)


@pytest.mark.slow
def test_detection_delay_table_over_a_week() -> None:
    """Regressions from the first window and from day 3, each test at alpha and at alpha / 3."""
    rows = []
    for label, test, change, kw in POWER:
        for onset in (0, 3 * DAY):
            results = {
                a: run_all(late(STREAMS, WEEK, 41, onset, **change), test, alpha=a, **kw)
                for a in (ALPHA, ALPHA / 3)
            }
            found = {a: delays(r, onset) for a, r in results.items()}
            rows.append((label, onset // DAY, found[ALPHA], found[ALPHA / 3]))
    head = f"regression ({STREAMS} canary-weeks)  onset   alpha: detected  median   p90"
    print(f"\n{head}   alpha/3: detected  median   p90")
    for label, day, (rate, median, p90), (rate3, median3, p903) in rows:
        print(
            f"{label:<30}day {day}  {rate:>15.1%} {median:>7.0f} {p90:>5.0f}   "
            f"{rate3:>17.1%} {median3:>7.0f} {p903:>5.0f}   (minutes)"
        )
    # a false abort before a day-3 onset counts as a miss, so late rows stay a little below 100 %
    assert all(row[2][0] >= 0.95 and row[3][0] >= 0.95 for row in rows)
