"""Seeded synthetic metric-window streams for the canary rules, the daemon tests, the demo and the benchmark.

A stream is what the serving layer would post for one canary: 5-minute windows of the ``canary`` and
``holdout`` groups from ``start`` on, and 12 ``baseline`` windows of champion traffic in the hour before.
It is noisy the way production is: a diurnal traffic curve (peak at 12:00 UTC, 21:00 JST) with day-to-day
and window-to-window variation and occasional near-empty night windows, binomial errors around a rate
that both groups share (infrastructure noise), log-normal p99 with a shared load component plus noise that
shrinks with traffic, a safety metric (escalation resolution rate) with a small diurnal swing measured on a
share of the requests, background exception types in both groups and short upstream outages that raise one
exception type in both groups at once. A healthy stream must never trigger the rules; a ``Regression``
changes one group for a while so that it should.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, NamedTuple

import numpy as np

from gatekeeper.canary.rules import GroupArrays, Window, WindowArrays

WINDOW = timedelta(minutes=5)
SAFETY_METRIC = "escalation_resolution_rate"
OUTAGE_TYPE = "CatalogUnavailable"

Kind = Literal["error_rate", "latency_p99", "safety", "exception"]


@dataclass(frozen=True)
class Regression:
    """A change to one group from ``offset`` after the canary start, for ``duration``.

    ``magnitude``: a multiplier for ``error_rate`` and ``latency_p99``, an additive change of the safety
    metric for ``safety`` (negative = worse), the rate of a new, canary-only exception type for ``exception``.
    """

    kind: Kind
    offset: timedelta
    duration: timedelta
    magnitude: float
    exception_type: str = "NewModelError"


@dataclass(frozen=True)
class Profile:
    """Traffic and quality of one canary; the defaults are a 1 % canary of a busy assistant."""

    canary_peak: float = 3000.0  # canary requests per window at the daily peak
    share: float = 0.01  # canary share of traffic; holdout gets the rest
    trough: float = 0.05  # night traffic as a share of the peak
    peak_hour: float = 12.0  # UTC
    low_traffic_prob: float = 0.1  # chance that a night window nearly empties
    error_rate: float = 0.005
    p99_ms: float = 180.0
    safety_level: float = 0.88
    safety_diurnal: float = 0.02  # amplitude of the daily swing of the safety metric
    safety_fraction: float = 0.5  # share of requests that enter the safety metric
    exception_rates: Mapping[str, float] = field(
        default_factory=lambda: {"TimeoutError": 2e-4, "ToolCallSchemaError": 1e-4, "RateLimited": 5e-5}
    )
    outages_per_day: float = 0.5
    outage_windows: int = 2
    outage_rate: float = 0.005


class _Group(NamedTuple):
    """One simulated group (canary, holdout or baseline): one element per 5-minute window."""

    requests: np.ndarray
    errors: np.ndarray
    p99: np.ndarray
    safety: np.ndarray
    exceptions: dict[str, np.ndarray]


def _mask(times: np.ndarray, start: datetime, change: Regression | None) -> np.ndarray:
    if change is None:
        return np.zeros(times.size, dtype=bool)
    lo = (start + change.offset).timestamp()
    hi = lo + change.duration.total_seconds()
    return (times >= lo) & (times < hi)


def _load(hours: np.ndarray, profile: Profile) -> np.ndarray:
    wave = (1 + np.cos(2 * math.pi * (hours - profile.peak_hour) / 24)) / 2
    return profile.trough + (1 - profile.trough) * wave**1.5


def _world(times: np.ndarray, profile: Profile, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """What both groups share in a window: the traffic level, error rate, load, safety level, outages."""
    n = times.size
    hours = (times % 86400) / 3600 + 2.5 / 60
    days = ((times - times.min()) // 86400).astype(int) if n else np.zeros(0, dtype=int)
    day_factor = rng.lognormal(0.0, 0.1, days.max() + 1 if n else 0)[days]
    load = _load(hours, profile)
    traffic = profile.canary_peak * load * day_factor * rng.lognormal(0.0, 0.05, n)
    night = load < 0.2
    traffic = np.where(night & (rng.random(n) < profile.low_traffic_prob), traffic * 0.2, traffic)
    error_rate = profile.error_rate * rng.lognormal(0.0, 0.15, n)
    p99 = profile.p99_ms * (1 + 0.15 * load) * rng.lognormal(0.0, 0.08, n)
    wave = np.cos(2 * math.pi * (hours - profile.peak_hour) / 24)
    day_drift = rng.normal(0.0, 0.003, days.max() + 1 if n else 0)[days]
    safety = profile.safety_level + profile.safety_diurnal * wave + day_drift
    outage = np.zeros(n, dtype=bool)
    for s in np.flatnonzero(rng.random(n) < profile.outages_per_day / 288):
        outage[s : s + profile.outage_windows] = True
    return {"traffic": traffic, "error_rate": error_rate, "p99": p99, "safety": safety, "outage": outage}


def _group(
    world: dict[str, np.ndarray],
    scale: float | np.ndarray,
    profile: Profile,
    rng: np.random.Generator,
    change: Regression | None,
    active: np.ndarray,
) -> _Group:
    requests = rng.poisson(world["traffic"] * scale)
    err_rate = world["error_rate"].copy()
    p99 = world["p99"] * rng.lognormal(0.0, 0.03 + 0.6 / np.sqrt(np.maximum(requests, 1)))
    level = world["safety"].copy()
    kind = change.kind if change is not None else None
    magnitude = change.magnitude if change is not None else 0.0
    if kind == "error_rate":
        err_rate = np.where(active, err_rate * magnitude, err_rate)
    elif kind == "latency_p99":
        p99 = np.where(active, p99 * magnitude, p99)
    elif kind == "safety":
        level = np.where(active, level + magnitude, level)
    errors = rng.binomial(requests, np.clip(err_rate, 0.0, 1.0))
    n_eff = np.round(requests * profile.safety_fraction).astype(np.int64)
    resolved = rng.binomial(n_eff, np.clip(level, 0.0, 1.0))
    safety = np.where(n_eff > 0, resolved / np.maximum(n_eff, 1), np.nan)
    exceptions = {t: rng.binomial(requests, rate) for t, rate in profile.exception_rates.items()}
    exceptions[OUTAGE_TYPE] = rng.binomial(requests, np.where(world["outage"], profile.outage_rate, 0.0))
    if change is not None and kind == "exception":
        exceptions[change.exception_type] = rng.binomial(requests, np.where(active, magnitude, 0.0))
    return _Group(requests, errors, p99, safety, exceptions)


def _windows(start: datetime, group: str, g: _Group) -> list[Window]:
    out = []
    for i in range(g.requests.size):
        s = start + i * WINDOW
        out.append(
            Window(
                start=s,
                end=s + WINDOW,
                group=group,
                requests=int(g.requests[i]),
                errors=int(g.errors[i]),
                latency_p99_ms=round(float(g.p99[i]), 2),
                safety={} if math.isnan(g.safety[i]) else {SAFETY_METRIC: float(g.safety[i])},
                exceptions={t: int(v[i]) for t, v in g.exceptions.items() if v[i]},
            )
        )
    return out


def _times(start: datetime, n: int) -> np.ndarray:
    return start.timestamp() + np.arange(n) * WINDOW.total_seconds()


def _baseline_group(start: datetime, seed: int, profile: Profile) -> _Group:
    rng = np.random.default_rng([seed, 1])
    world = _world(_times(start - 12 * WINDOW, 12), profile, rng)
    return _group(world, 1 / profile.share, profile, rng, None, np.zeros(12, dtype=bool))


def baseline_windows(start: datetime, seed: int = 0, *, profile: Profile | None = None) -> list[Window]:
    """Return the 12 champion windows of the hour before ``start`` (all traffic, no canary yet)."""
    profile = profile or Profile()
    return _windows(start - 12 * WINDOW, "baseline", _baseline_group(start, seed, profile))


def _scales(n: int, profile: Profile, stages: Sequence[tuple[float, float]] | None) -> tuple:
    """Canary and holdout traffic per window, in units of the profile's canary traffic: a stage plan
    ``[(share, days), ...]`` moves the split at each stage's end (the last stage runs to the end)."""
    if not stages:
        return 1.0, (1 - profile.share) / profile.share
    planned = plan_shares(stages)
    share = planned[np.minimum(np.arange(n), planned.size - 1)]
    return share / profile.share, (1 - share) / profile.share


def _stream(
    start: datetime,
    n: int,
    seed: int,
    profile: Profile,
    changes: tuple[Regression | None, Regression | None],
    stages: Sequence[tuple[float, float]] | None = None,
) -> tuple[_Group, _Group]:
    """The canary and holdout groups of one seeded stream (the canary changed by ``changes[0]``, the
    holdout by ``changes[1]``)."""
    regression, anomaly = changes
    if anomaly is not None and anomaly.kind == "exception":
        raise ValueError("a holdout anomaly changes error_rate, latency_p99 or safety")
    rng = np.random.default_rng([seed, 0])
    times = _times(start, n)
    world = _world(times, profile, rng)
    canary_scale, holdout_scale = _scales(n, profile, stages)
    canary = _group(world, canary_scale, profile, rng, regression, _mask(times, start, regression))
    holdout = _group(world, holdout_scale, profile, rng, anomaly, _mask(times, start, anomaly))
    return canary, holdout


def healthy_stream(
    start: datetime,
    days: float = 7.0,
    seed: int = 0,
    *,
    profile: Profile | None = None,
    regression: Regression | None = None,
    holdout_anomaly: Regression | None = None,
    baseline: bool = True,
) -> list[Window]:
    """Return a seeded stream of canary and holdout windows (plus the baseline hour), sorted by start.

    ``regression`` changes the canary group, ``holdout_anomaly`` the holdout group (kinds ``error_rate``,
    ``latency_p99``, ``safety``); without them the stream is healthy and must trigger nothing.
    """
    profile = profile or Profile()
    n = int(round(days * 288))
    canary, holdout = _stream(start, n, seed, profile, (regression, holdout_anomaly))
    out = baseline_windows(start, seed, profile=profile) if baseline else []
    pairs = zip(_windows(start, "canary", canary), _windows(start, "holdout", holdout), strict=True)
    out.extend(w for pair in pairs for w in pair)
    return out


def _arrays(start: datetime, g: _Group) -> GroupArrays:
    """The same windows as ``_windows`` writes them (p99 rounded to 0.01 ms), as columns."""
    s = _times(start, g.requests.size).astype(np.int64)
    return GroupArrays(
        start=s,
        end=s + int(WINDOW.total_seconds()),
        requests=g.requests.astype(np.int64),
        errors=g.errors.astype(np.int64),
        latency_p99_ms=np.round(g.p99, 2),
        safety={SAFETY_METRIC: g.safety},
        exceptions={t: v.astype(np.int64) for t, v in g.exceptions.items()},
    )


def stream_arrays(
    start: datetime,
    days: float = 7.0,
    seed: int = 0,
    *,
    profile: Profile | None = None,
    regression: Regression | None = None,
    stages: Sequence[tuple[float, float]] | None = None,
) -> WindowArrays:
    """``healthy_stream`` as columns, without a Python object per window (the backtest simulates
    thousands of canary-weeks). With ``stages`` the canary's share follows the plan ``[(share, days)]``;
    without, it stays at ``profile.share`` and the windows equal ``healthy_stream``'s."""
    profile = profile or Profile()
    n = int(round(days * 288))
    canary, holdout = _stream(start, n, seed, profile, (regression, None), stages)
    base = _arrays(start - 12 * WINDOW, _baseline_group(start, seed, profile))
    return WindowArrays(_arrays(start, canary), _arrays(start, holdout), base)


# ---------------------------------------------------------------------------------------------------------
# Many canaries at once: the same noise model as (streams x windows) arrays, so that a thousand canaries
# take seconds (the statistical tests and the backtest's rule checks). It leaves out what no rate test
# reads: exceptions, outages and the baseline hour. Each canary starts at a random hour.


@dataclass(frozen=True)
class Batch:
    """Per-window columns of many canaries, one row per canary; ``hour0`` is each one's start hour (UTC)."""

    canary_requests: np.ndarray
    holdout_requests: np.ndarray
    canary_errors: np.ndarray
    holdout_errors: np.ndarray
    canary_p99: np.ndarray
    holdout_p99: np.ndarray
    canary_safety: np.ndarray
    holdout_safety: np.ndarray
    hour0: np.ndarray
    safety_fraction: float = 0.5

    def arrays(self, i: int, day: datetime) -> WindowArrays:
        """Canary ``i`` as the rules read it, starting at its hour on ``day`` (midnight UTC)."""
        start = _times(day + timedelta(hours=float(self.hour0[i, 0])), self.canary_requests.shape[1])
        s = (np.round(start / 60) * 60).astype(np.int64)

        def group(req: np.ndarray, err: np.ndarray, p99: np.ndarray, safety: np.ndarray) -> GroupArrays:
            return GroupArrays(s, s + 300, req[i], err[i], p99[i], {SAFETY_METRIC: safety[i]}, {})

        return WindowArrays(
            group(self.canary_requests, self.canary_errors, self.canary_p99, self.canary_safety),
            group(self.holdout_requests, self.holdout_errors, self.holdout_p99, self.holdout_safety),
            GroupArrays.empty(),
        )


def _batch_traffic(rng: np.random.Generator, n: int, windows: int, peak: float) -> tuple[np.ndarray, ...]:
    hour0 = rng.uniform(0, 24, (n, 1))
    hours = (hour0 + np.arange(windows) * 5 / 60) % 24
    wave = (1 + np.cos(2 * math.pi * (hours - 12) / 24)) / 2
    load = 0.05 + 0.95 * wave**1.5
    days = np.arange(windows) // 288
    day_factor = rng.lognormal(0.0, 0.1, (n, days.max() + 1))[:, days]
    traffic = peak * load * day_factor * rng.lognormal(0.0, 0.05, (n, windows))
    quiet = (load < 0.2) & (rng.random((n, windows)) < 0.1)
    return np.where(quiet, traffic * 0.2, traffic), load, hour0


def batch(
    n: int,
    windows: int,
    seed: int,
    *,
    shares: np.ndarray | None = None,
    peak: float = 3000.0,
    error_ratio: float = 1.0,
    latency_ratio: float = 1.0,
    safety_shift: float = 0.0,
) -> Batch:
    """``n`` healthy (or regressed from the first window) canaries of a 1 % canary, 99 % holdout; with
    ``shares`` (the canary's share per window, e.g. a stage plan) the split follows it."""
    rng = np.random.default_rng(seed)
    traffic, load, hour0 = _batch_traffic(rng, n, windows, peak)
    c_scale, h_scale = (1.0, 99.0) if shares is None else (shares / 0.01, (1 - shares) / 0.01)
    nc, nh = rng.poisson(traffic * c_scale), rng.poisson(traffic * h_scale)
    rate = 0.005 * rng.lognormal(0.0, 0.15, (n, windows))
    world = 180.0 * (1 + 0.15 * load) * rng.lognormal(0.0, 0.08, (n, windows))

    def p99(requests: np.ndarray) -> np.ndarray:
        return world * rng.lognormal(0.0, 0.03 + 0.6 / np.sqrt(np.maximum(requests, 1)))

    level = 0.88 + 0.02 * (2 * load - 1) + rng.normal(0.0, 0.003, (n, 1))

    def safety(requests: np.ndarray, shift: float) -> np.ndarray:
        return _batch_safety(rng, requests, level + shift)

    return Batch(
        canary_requests=nc,
        holdout_requests=nh,
        canary_errors=rng.binomial(nc, np.clip(rate * error_ratio, 0, 1)),
        holdout_errors=rng.binomial(nh, rate),
        canary_p99=p99(nc) * latency_ratio,
        holdout_p99=p99(nh),
        canary_safety=safety(nc, safety_shift),
        holdout_safety=safety(nh, 0.0),
        hour0=hour0,
    )


def _batch_safety(rng: np.random.Generator, requests: np.ndarray, level: np.ndarray) -> np.ndarray:
    """The safety metric measured on half of each window's requests (NaN where none)."""
    m = np.round(requests * 0.5).astype(np.int64)
    hits = rng.binomial(m, np.clip(level, 0, 1))
    return np.where(m > 0, hits / np.maximum(m, 1), np.nan)


def plan_shares(stages: Sequence[tuple[float, float]]) -> np.ndarray:
    """The canary's share in each 5-minute window of a stage plan ``[(share, days)]``."""
    return np.concatenate([np.full(int(round(days * 288)), share) for share, days in stages])
