"""Canary auto-abort rules (DESIGN §8, seed 002 §5.3): a pure, vectorised function over metric windows.

Windows are 5-minute aggregates for three groups: ``canary``, ``holdout`` (champion traffic during the
canary) and ``baseline`` (champion traffic in the hour before the canary started). Canary and holdout
windows are paired by ``start``. Rules, thresholds from the target policy's ``abort_rules``:

1. ``safety``: a safety metric (higher is better) of the canary is more than ``safety_sigma``·σ below the
   holdout for more than ``safety_minutes``; σ is the holdout's window-to-window standard deviation
   (ddof=1) of that metric over the trailing 24 h, or the baseline's while the trailing 24 h hold fewer than
   12 holdout windows with the metric;
2. ``error_rate``: canary error rate > ``error_ratio`` × holdout error rate for more than ``error_minutes``;
3. ``latency_p99``: canary p99 > ``p99_ratio`` × holdout p99 for more than ``p99_minutes``;
4. ``exception``: an exception type whose canary rate exceeds its holdout rate by more than
   ``exception_excess_rate`` over the trailing hour (pooled counts over pooled requests).

"For more than D": the condition holds in every window of a contiguous run (each window's ``start`` equals
the previous window's ``end``) whose span, last ``end`` minus first ``start``, is strictly greater than D:
with 5-minute windows error needs 2 windows, latency 4, safety 13.

No evidence, no decision. A pair is *evaluable* only when the canary window has at least ``min_requests``
requests and its holdout window exists and has at least ``min_requests`` too (a holdout rate measured on a
handful of requests is no evidence either). A window that is not evaluable never counts toward a run and
breaks it; the exception rule pools evaluable pairs only. The same pairs are what a stage needs to end
(``stage_evidence``): its time up is not enough, it must also hold the evaluable windows and canary
requests ``evidence_needed`` derives from the error rule's power (or the stage's ``min_windows`` /
``min_requests``); a window below ``min_requests`` is received, never evidence.

Edge cases, chosen so a healthy canary is never rolled back on noise:

* holdout error rate 0: the reference rate is ``max(holdout_rate, 1 / holdout_requests)``: a zero count
  only says the rate is below the holdout's resolution, so 1/900 canary errors against 0/900 never aborts.
  Canary-only exception types use the same floor in the evidence test (their holdout *rate* stays 0).
* evidence test (``evidence_alpha``, ours): a rate condition (error, exception) counts only when the canary
  count is itself evidence that the threshold is crossed: the Poisson upper tail P(X >= count) with the
  canary's requests at the threshold rate (``error_ratio`` × reference, or reference + excess) is below
  ``evidence_alpha`` (0.05), i.e. the one-sided 95 % lower bound of the canary rate is above the threshold.
  Without it, a 5-minute window of 150 requests at a 0.5 % error rate is "over 2× the holdout" with 2
  errors, and a healthy canary aborts every few hours at night: over 300 seeded healthy weeks
  (gatekeeper/canary/simulate.py) the literal rule fired ~15 times a week, this one never. At high traffic the
  two agree. Set
  ``evidence_alpha: 1.0`` in the policy to get the literal rule.
* holdout p99 0 (or below 1 ms): the reference is floored at ``p99_floor_ms`` (1 ms, below timer
  resolution), so a bogus zero never turns every canary window into a breach.
* σ = 0 (a constant metric): σ is floored at ``safety_sigma_floor`` (0.001 in metric units; safety metrics
  are rates in [0, 1], so 2σ is never below 0.2 percentage points). σ needs 2 windows; with fewer the
  window is not evaluable.
* the exception rule's trailing hour must pool at least 12 × ``min_requests`` canary requests (an hour of
  minimal windows): 2 exceptions in the 218 requests of a quiet night hour are not a 0.1 % rate.

Out-of-order input is sorted; duplicate windows (same group and start) keep the last one given. Times are
epoch seconds inside; naive datetimes are read as UTC, and triggers carry aware UTC datetimes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import pdtrc, pdtri
from scipy.stats import poisson

from gatekeeper.errors import Conflict
from gatekeeper.policy.schema import AbortRulesPolicy

GROUPS: tuple[str, ...] = ("canary", "holdout", "baseline")
RULES: tuple[str, ...] = ("safety", "error_rate", "latency_p99", "exception")

_DAY_S = 24 * 3600
_HOUR_S = 3600
_WINDOWS_PER_HOUR = 12

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


class NoBaseline(Conflict):
    """The re-enable check needs pre-canary baseline windows and there are none usable."""


# ---------------------------------------------------------------------------------------------------------
# Inputs


def _epoch(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp())


def _from_epoch(seconds: int) -> datetime:
    return datetime.fromtimestamp(int(seconds), tz=UTC)


def _iso(seconds: int) -> str:
    return _from_epoch(seconds).isoformat()


def _parse_time(value: datetime | str) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


@dataclass(frozen=True)
class Window:
    """One 5-minute metric window of one group, as posted to ``/v1/canaries/{id}/metrics``."""

    start: datetime
    end: datetime
    group: str
    requests: int
    errors: int
    latency_p99_ms: float
    safety: Mapping[str, float] = field(default_factory=dict)
    exceptions: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.group not in GROUPS:
            raise ValueError(f"group must be one of {GROUPS}, got {self.group!r}")
        if self.end <= self.start:
            raise ValueError(f"window end {self.end} is not after its start {self.start}")
        if self.requests < 0 or not 0 <= self.errors <= self.requests:
            raise ValueError(f"need 0 <= errors <= requests, got {self.errors} / {self.requests}")
        if any(count < 0 for count in self.exceptions.values()):
            raise ValueError("exception counts must be non-negative")

    def to_dict(self) -> dict[str, Any]:
        """The JSON body of one window in ``POST /v1/canaries/{id}/metrics`` (``from_dict`` reads it)."""
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "group": self.group,
            "requests": self.requests,
            "errors": self.errors,
            "latency_p99_ms": self.latency_p99_ms,
            "safety": dict(self.safety),
            "exceptions": dict(self.exceptions),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Window:
        """Build a window from its JSON form (ISO timestamps accepted)."""
        return cls(
            start=_parse_time(data["start"]),
            end=_parse_time(data["end"]),
            group=data["group"],
            requests=int(data["requests"]),
            errors=int(data["errors"]),
            latency_p99_ms=float(data["latency_p99_ms"]),
            safety={k: float(v) for k, v in (data.get("safety") or {}).items()},
            exceptions={k: int(v) for k, v in (data.get("exceptions") or {}).items()},
        )


def _as_epoch_array(values: ArrayLike | Sequence[datetime]) -> IntArray:
    arr = np.asarray(values)
    if arr.dtype.kind == "M":
        return arr.astype("datetime64[s]").astype(np.int64)
    if arr.dtype.kind in "iuf":
        return arr.astype(np.int64)
    return np.fromiter((_epoch(v) for v in arr.ravel()), dtype=np.int64, count=arr.size)


@dataclass(frozen=True)
class GroupArrays:
    """One group's windows as columns, sorted by start with unique starts; times are epoch seconds.

    ``safety[m]`` is NaN where a window did not report ``m``; ``exceptions[t]`` is 0 where absent.
    """

    start: IntArray
    end: IntArray
    requests: IntArray
    errors: IntArray
    latency_p99_ms: FloatArray
    safety: Mapping[str, FloatArray]
    exceptions: Mapping[str, IntArray]

    def __len__(self) -> int:
        return int(self.start.size)

    def select(self, mask: BoolArray) -> GroupArrays:
        """The windows where ``mask`` is true (order and uniqueness are kept)."""
        return GroupArrays(
            self.start[mask],
            self.end[mask],
            self.requests[mask],
            self.errors[mask],
            self.latency_p99_ms[mask],
            {k: v[mask] for k, v in self.safety.items()},
            {k: v[mask] for k, v in self.exceptions.items()},
        )

    @classmethod
    def empty(cls) -> GroupArrays:
        """Return a group with no windows."""
        i = np.zeros(0, dtype=np.int64)
        return cls(i, i, i, i, np.zeros(0, dtype=np.float64), {}, {})

    @classmethod
    def from_columns(
        cls,
        *,
        start: ArrayLike | Sequence[datetime],
        end: ArrayLike | Sequence[datetime],
        requests: ArrayLike,
        errors: ArrayLike,
        latency_p99_ms: ArrayLike,
        safety: Mapping[str, ArrayLike] | None = None,
        exceptions: Mapping[str, ArrayLike] | None = None,
    ) -> GroupArrays:
        """Build from columns (e.g. a DB query); sorts by start and keeps the last of duplicate starts.

        ``start``/``end`` may be epoch seconds, ``datetime64`` or datetimes (naive = UTC).
        """
        s = _as_epoch_array(start)
        e = _as_epoch_array(end)
        req = np.asarray(requests, dtype=np.int64)
        err = np.asarray(errors, dtype=np.int64)
        p99 = np.asarray(latency_p99_ms, dtype=np.float64)
        saf = {k: np.asarray(v, dtype=np.float64) for k, v in (safety or {}).items()}
        exc = {k: np.asarray(v, dtype=np.int64) for k, v in (exceptions or {}).items()}
        n = s.size
        for name, col in [
            ("end", e),
            ("requests", req),
            ("errors", err),
            ("latency_p99_ms", p99),
            *saf.items(),
            *exc.items(),
        ]:
            if col.shape != (n,):
                raise ValueError(f"column {name!r} has shape {col.shape}, expected ({n},)")
        if n > 1 and not bool(np.all(s[1:] > s[:-1])):
            order = np.argsort(s, kind="stable")  # stable: among equal starts the last given stays last
            ss = s[order]
            keep = np.ones(n, dtype=bool)
            keep[:-1] = ss[1:] != ss[:-1]
            idx = order[keep]
            s, e, req, err, p99 = s[idx], e[idx], req[idx], err[idx], p99[idx]
            saf = {k: v[idx] for k, v in saf.items()}
            exc = {k: v[idx] for k, v in exc.items()}
        return cls(s, e, req, err, p99, saf, exc)

    @classmethod
    def from_windows(cls, windows: Iterable[Window]) -> GroupArrays:
        """Build from windows of one group (the group field is not checked here)."""
        ws = list(windows)
        if not ws:
            return cls.empty()
        n = len(ws)
        start, end = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
        requests, errors = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
        p99 = np.empty(n, dtype=np.float64)
        safety: dict[str, FloatArray] = {}
        exceptions: dict[str, IntArray] = {}
        for i, w in enumerate(ws):
            start[i], end[i] = _epoch(w.start), _epoch(w.end)
            requests[i], errors[i], p99[i] = w.requests, w.errors, w.latency_p99_ms
            for m, v in w.safety.items():
                if m not in safety:
                    safety[m] = np.full(n, math.nan)
                safety[m][i] = v
            for t, k in w.exceptions.items():
                if t not in exceptions:
                    exceptions[t] = np.zeros(n, dtype=np.int64)
                exceptions[t][i] = k
        return cls.from_columns(
            start=start,
            end=end,
            requests=requests,
            errors=errors,
            latency_p99_ms=p99,
            safety=safety,
            exceptions=exceptions,
        )


@dataclass(frozen=True)
class WindowArrays:
    """The three groups of one canary as columns: the fast entry point for the daemon."""

    canary: GroupArrays
    holdout: GroupArrays
    baseline: GroupArrays

    @classmethod
    def from_windows(cls, windows: Iterable[Window]) -> WindowArrays:
        """Split windows by group and convert each group to columns."""
        by_group: dict[str, list[Window]] = {g: [] for g in GROUPS}
        for w in windows:
            by_group[w.group].append(w)
        return cls(*(GroupArrays.from_windows(by_group[g]) for g in GROUPS))


# ---------------------------------------------------------------------------------------------------------
# Rules and results


class AbortRules(AbortRulesPolicy):
    """What the rules read: the policy's typed ``abort_rules`` (every threshold and its default is defined
    there, once) plus ``canary.safety_metrics``."""

    safety_metrics: tuple[str, ...] = ()

    @classmethod
    def from_policy(
        cls, abort_rules: AbortRulesPolicy | Mapping[str, Any], safety_metrics: Sequence[str] = ()
    ) -> AbortRules:
        """Read a policy's ``abort_rules`` (the model or its mapping); unknown keys and bad values refused."""
        data = abort_rules.model_dump() if isinstance(abort_rules, AbortRulesPolicy) else dict(abort_rules)
        return cls.model_validate({**data, "safety_metrics": tuple(safety_metrics)})

    def to_dict(self) -> dict[str, Any]:
        """Return the thresholds as JSON-ready values (recorded with every trigger)."""
        return self.model_dump(mode="json")


@dataclass(frozen=True)
class Trigger:
    """A rule that fired: the canary windows that made it fire and the figures an on-call engineer reads.

    ``fired_at`` is the end of the last window: the first tick at which the daemon could have aborted.
    """

    rule: str
    metric: str | None
    window_starts: tuple[datetime, ...]
    figures: dict[str, Any]
    fired_at: datetime
    # The windows the rule fired on, as received: {"canary": [...], "holdout": [...]}, each in the JSON
    # form of ``Window.to_dict``. The re-enable check reads the canary figures from here, never from the
    # database, so nothing posted after the abort can change its verdict. Empty for hand-built triggers.
    evidence: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form (ISO timestamps)."""
        return {
            "rule": self.rule,
            "metric": self.metric,
            "fired_at": self.fired_at.isoformat(),
            "window_starts": [s.isoformat() for s in self.window_starts],
            "figures": self.figures,
            "evidence": self.evidence,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Trigger:
        """Read back what ``to_dict`` wrote (the re-enable check runs on a stored trigger)."""
        return cls(
            rule=data["rule"],
            metric=data.get("metric"),
            window_starts=tuple(_parse_time(s) for s in data["window_starts"]),
            figures=dict(data.get("figures") or {}),
            fired_at=_parse_time(data["fired_at"]),
            evidence={g: list(ws) for g, ws in (data.get("evidence") or {}).items()},
        )

    @property
    def recorded(self) -> bool:
        """Whether the canary windows the rule fired on were recorded with it (older aborts lack them)."""
        return bool(self.evidence.get("canary"))


@dataclass(frozen=True)
class Recheck:
    """The re-enable check: does the trigger still fire against the pre-canary baseline?"""

    fires: bool
    figures: dict[str, Any]
    reason: str


# ---------------------------------------------------------------------------------------------------------
# Vectorised building blocks


def _runs(
    cond: BoolArray, link: BoolArray, start: IntArray, end: IntArray, min_span_s: float
) -> list[tuple[int, int]]:
    """Return (first, fire) indices: per run of contiguous true windows, where its span first exceeds D."""
    if not cond.any():
        return []
    n = cond.size
    joined = np.zeros(n, dtype=bool)
    joined[1:] = cond[1:] & cond[:-1] & link[1:]
    first = np.maximum.accumulate(np.where(joined, 0, np.arange(n)))
    fire = np.flatnonzero(cond & (end - start[first] > min_span_s))
    if fire.size == 0:
        return []
    firsts = first[fire]
    keep = np.ones(fire.size, dtype=bool)
    keep[1:] = firsts[1:] != firsts[:-1]
    return list(zip(firsts[keep].tolist(), fire[keep].tolist(), strict=True))


def _links(start: IntArray, end: IntArray) -> BoolArray:
    link = np.zeros(start.size, dtype=bool)
    link[1:] = start[1:] == end[:-1]
    return link


def _p_upper(counts: IntArray, expected: NDArray[Any]) -> FloatArray:
    """Poisson P(X >= count | expected): how surprising the count is if the rate sat on the threshold."""
    return np.asarray(pdtrc(np.maximum(counts - 1, 0), expected), dtype=np.float64)


def _evidence(
    point: BoolArray, counts: IntArray, expected: NDArray[Any], alpha: float
) -> tuple[BoolArray, FloatArray]:
    """Keep the point condition only where the count passes the evidence test; p is 1 elsewhere."""
    p = np.ones(point.size, dtype=np.float64)
    idx = np.flatnonzero(point)
    if idx.size:
        p[idx] = _p_upper(counts[idx], expected[idx])
    return point & (p < alpha), p


def _rates(num: IntArray, den: IntArray) -> FloatArray:
    return num / np.maximum(den, 1)


def _f(x: Any) -> float:
    return float(x)


@dataclass(frozen=True)
class _Paired:
    """Canary windows with their holdout pair (``h`` = holdout index, valid where ``ok``)."""

    c: GroupArrays
    hold: GroupArrays
    base: GroupArrays
    h: NDArray[np.intp]
    ok: BoolArray
    link: BoolArray


def _evaluable(c: GroupArrays, hold: GroupArrays, min_requests: int) -> tuple[NDArray[np.intp], BoolArray]:
    """Each canary window's holdout index, and whether the pair is evidence (both sides >= min_requests)."""
    if len(c) == 0 or len(hold) == 0:
        return np.zeros(len(c), dtype=np.intp), np.zeros(len(c), dtype=bool)
    h = np.minimum(np.searchsorted(hold.start, c.start), len(hold) - 1)
    m = min_requests
    return h, (hold.start[h] == c.start) & (c.requests >= m) & (hold.requests[h] >= m)


def _pair(arrays: WindowArrays, rules: AbortRules) -> _Paired | None:
    c, hold = arrays.canary, arrays.holdout
    h, ok = _evaluable(c, hold, rules.min_requests)
    if not ok.any():
        return None
    return _Paired(c, hold, arrays.baseline, h, ok, _links(c.start, c.end))


def _trigger(
    rule: str, metric: str | None, c: GroupArrays, idx: Sequence[int], figures: dict[str, Any]
) -> Trigger:
    starts = tuple(_from_epoch(c.start[i]) for i in idx)
    span = (int(c.end[idx[-1]]) - int(c.start[idx[0]])) / 60.0
    return Trigger(rule, metric, starts, {"span_minutes": span, **figures}, _from_epoch(c.end[idx[-1]]))


# ---------------------------------------------------------------------------------------------------------
# The four rules against the holdout


def _error_rule(p: _Paired, rules: AbortRules) -> list[Trigger]:
    c, hold = p.c, p.hold
    hreq, herr = hold.requests[p.h], hold.errors[p.h]
    crate, hrate = _rates(c.errors, c.requests), _rates(herr, hreq)
    ref = np.maximum(hrate, 1.0 / np.maximum(hreq, 1))
    point = p.ok & (crate > rules.error_ratio * ref)
    span = rules.error_minutes * 60
    if not _runs(point, p.link, c.start, c.end, span):  # cheap necessary condition first
        return []
    cond, pval = _evidence(point, c.errors, c.requests * rules.error_ratio * ref, rules.evidence_alpha)
    out = []
    for a, b in _runs(cond, p.link, c.start, c.end, span):
        rows = [
            {
                "start": _iso(c.start[i]),
                "canary_requests": int(c.requests[i]),
                "canary_errors": int(c.errors[i]),
                "canary_rate": _f(crate[i]),
                "holdout_requests": int(hreq[i]),
                "holdout_errors": int(herr[i]),
                "holdout_rate": _f(hrate[i]),
                "reference_rate": _f(ref[i]),
                "ratio": _f(crate[i] / ref[i]),
                "p_value": _f(pval[i]),
            }
            for i in range(a, b + 1)
        ]
        figures = {
            "threshold": {
                "error_ratio": rules.error_ratio,
                "error_minutes": rules.error_minutes,
                "evidence_alpha": rules.evidence_alpha,
            },
            "windows": rows,
        }
        out.append(_trigger("error_rate", None, c, range(a, b + 1), figures))
    return out


def _latency_rule(p: _Paired, rules: AbortRules) -> list[Trigger]:
    c, hold = p.c, p.hold
    hp99 = hold.latency_p99_ms[p.h]
    ref = np.maximum(hp99, rules.p99_floor_ms)
    with np.errstate(invalid="ignore"):
        cond = p.ok & (c.latency_p99_ms > rules.p99_ratio * ref)  # NaN compares false: not evaluable
    out = []
    for a, b in _runs(cond, p.link, c.start, c.end, rules.p99_minutes * 60):
        rows = [
            {
                "start": _iso(c.start[i]),
                "canary_p99_ms": _f(c.latency_p99_ms[i]),
                "holdout_p99_ms": _f(hp99[i]),
                "reference_p99_ms": _f(ref[i]),
                "ratio": _f(c.latency_p99_ms[i] / ref[i]),
            }
            for i in range(a, b + 1)
        ]
        figures = {
            "threshold": {"p99_ratio": rules.p99_ratio, "p99_minutes": rules.p99_minutes},
            "windows": rows,
        }
        out.append(_trigger("latency_p99", None, c, range(a, b + 1), figures))
    return out


def _sample_sigma(values: FloatArray) -> float:
    return float(np.std(values, ddof=1)) if values.size >= 2 else math.nan


def _trailing_sigma(times: IntArray, values: FloatArray, at: IntArray) -> tuple[FloatArray, IntArray]:
    """Sample σ (ddof=1) and count of ``values`` with time in (t - 24 h, t] for each t in ``at``."""
    hi = np.searchsorted(times, at, side="right")
    lo = np.searchsorted(times, at - _DAY_S, side="right")
    n = hi - lo
    if values.size == 0:
        return np.full(at.size, math.nan), n
    x = values - values.mean()  # centred: the cumulative-sum variance keeps its precision
    s1 = np.concatenate(([0.0], np.cumsum(x)))
    s2 = np.concatenate(([0.0], np.cumsum(x * x)))
    t1, t2 = s1[hi] - s1[lo], s2[hi] - s2[lo]
    with np.errstate(divide="ignore", invalid="ignore"):
        var = (t2 - t1 * t1 / n) / (n - 1)
    sigma = np.sqrt(np.maximum(var, 0.0))
    sigma[n < 2] = math.nan
    return sigma, n


_MIN_HOLDOUT_SIGMA_WINDOWS = 12


@dataclass(frozen=True)
class _Sigma:
    sigma: FloatArray  # NaN where fewer than 2 windows: not evaluable
    from_holdout: BoolArray
    windows: IntArray  # how many windows the σ came from


def _safety_sigma(
    at: IntArray, hold: GroupArrays, base: GroupArrays, metric: str, rules: AbortRules
) -> _Sigma:
    """σ at times ``at``: the holdout's over the trailing 24 h, the baseline's until 12 holdout windows."""
    hall = hold.safety.get(metric, np.full(len(hold), math.nan))
    usable = np.isfinite(hall) & (hold.requests >= rules.min_requests)
    sigma_h, n_h = _trailing_sigma(hold.end[usable], hall[usable], at)
    bvals = base.safety.get(metric)
    sigma_b, n_b = math.nan, 0
    if bvals is not None:
        bvals = bvals[np.isfinite(bvals) & (base.requests >= rules.min_requests)]
        sigma_b, n_b = _sample_sigma(bvals), int(bvals.size)
    from_holdout = (n_h >= _MIN_HOLDOUT_SIGMA_WINDOWS) | (math.isnan(sigma_b) & (n_h >= 2))
    return _Sigma(np.where(from_holdout, sigma_h, sigma_b), from_holdout, np.where(from_holdout, n_h, n_b))


def _safety_rule(p: _Paired, rules: AbortRules, metric: str) -> list[Trigger]:
    c, hold = p.c, p.hold
    if metric not in c.safety or metric not in hold.safety:
        return []
    cv, hv = c.safety[metric], hold.safety[metric][p.h]
    span = rules.safety_minutes * 60
    with np.errstate(invalid="ignore"):
        below_floor = p.ok & (hv - cv > rules.safety_sigma * rules.safety_sigma_floor)
    if not _runs(below_floor, p.link, c.start, c.end, span):  # σ >= its floor: no run here, none at all
        return []
    sig = _safety_sigma(c.end, hold, p.base, metric, rules)
    sigma, from_holdout = sig.sigma, sig.from_holdout
    eff = np.maximum(sigma, rules.safety_sigma_floor)  # NaN stays NaN: not evaluable
    with np.errstate(invalid="ignore"):
        cond = p.ok & (hv - cv > rules.safety_sigma * eff)
    out = []
    for a, b in _runs(cond, p.link, c.start, c.end, span):
        rows = [
            {
                "start": _iso(c.start[i]),
                "canary": _f(cv[i]),
                "holdout": _f(hv[i]),
                "sigma": _f(sigma[i]),
                "sigma_used": _f(eff[i]),
                "sigma_source": "holdout" if from_holdout[i] else "baseline",
                "sigma_windows": int(sig.windows[i]),
                "threshold": _f(hv[i] - rules.safety_sigma * eff[i]),
                "deficit_sigmas": _f((hv[i] - cv[i]) / eff[i]),
            }
            for i in range(a, b + 1)
        ]
        figures = {
            "threshold": {
                "safety_sigma": rules.safety_sigma,
                "safety_minutes": rules.safety_minutes,
                "safety_sigma_floor": rules.safety_sigma_floor,
            },
            "windows": rows,
        }
        out.append(_trigger("safety", metric, c, range(a, b + 1), figures))
    return out


def _windowed(x: NDArray[Any], lo: NDArray[np.intp]) -> NDArray[Any]:
    """Sums of ``x`` over [lo[k], k] for every k."""
    cs = np.zeros(x.size + 1, dtype=x.dtype)
    np.cumsum(x, out=cs[1:])
    return cs[1:] - cs[lo]


def _exception_rule(p: _Paired, rules: AbortRules) -> list[Trigger]:
    c, hold = p.c, p.hold
    types = sorted(t for t, v in c.exceptions.items() if v.any())
    if not types:
        return []
    e = np.flatnonzero(p.ok)
    ends = c.end[e]
    lo = np.searchsorted(ends, ends - _HOUR_S, side="right")
    n_c = _windowed(c.requests[e], lo)
    counts = np.zeros((len(types), e.size + 1), dtype=np.int64)
    np.cumsum(np.stack([c.exceptions[t][e] for t in types]), axis=1, out=counts[:, 1:])
    k_all = counts[:, 1:] - counts[:, lo]  # trailing-hour canary counts, one row per type
    # Necessary for both tests, all types at once: k_c > excess * n_c, and the count is evidence even if
    # the holdout rate were 0 (the real test's expected count is larger, so its p-value is too).
    floor = rules.exception_excess_rate * n_c
    enough = n_c >= _WINDOWS_PER_HOUR * rules.min_requests  # an hour's worth of min_requests, pooled
    rows, cols = np.nonzero((k_all > floor) & enough)
    if rows.size == 0:
        return []
    strong = _p_upper(k_all[rows, cols], floor[cols]) < rules.evidence_alpha
    candidates = np.unique(rows[strong])
    if candidates.size == 0:
        return []
    he = p.h[e]
    n_h = _windowed(hold.requests[he], lo)
    out = []
    for row in candidates.tolist():
        t, k_c = types[row], k_all[row]
        hcol = hold.exceptions.get(t)
        k_h = _windowed(hcol[he], lo) if hcol is not None else np.zeros_like(k_c)
        r_c, r_h = k_c / n_c, k_h / n_h
        point = enough & (r_c - r_h > rules.exception_excess_rate)
        ref = np.maximum(r_h, 1.0 / n_h)
        cond, pval = _evidence(point, k_c, n_c * (ref + rules.exception_excess_rate), rules.evidence_alpha)
        firsts = np.flatnonzero(cond & ~np.concatenate(([False], cond[:-1])))  # one trigger per episode
        for k in firsts.tolist():
            figures = {
                "exception_type": t,
                "canary_count": int(k_c[k]),
                "canary_requests": int(n_c[k]),
                "canary_rate": _f(r_c[k]),
                "holdout_count": int(k_h[k]),
                "holdout_requests": int(n_h[k]),
                "holdout_rate": _f(r_h[k]),
                "excess": _f(r_c[k] - r_h[k]),
                "p_value": _f(pval[k]),
                "threshold": {
                    "exception_excess_rate": rules.exception_excess_rate,
                    "window_minutes": 60,
                    "evidence_alpha": rules.evidence_alpha,
                },
            }
            out.append(_trigger("exception", t, c, e[lo[k] : k + 1].tolist(), figures))
    return out


def _arrays(windows: Sequence[Window] | WindowArrays) -> WindowArrays:
    return windows if isinstance(windows, WindowArrays) else WindowArrays.from_windows(windows)


def _window_dicts(g: GroupArrays, idx: Sequence[int], group: str) -> list[dict[str, Any]]:
    """Windows of ``g`` in the JSON form of ``Window.to_dict`` (a metric a window did not report is left
    out, so the result is plain JSON)."""
    return [
        {
            "start": _iso(g.start[i]),
            "end": _iso(g.end[i]),
            "group": group,
            "requests": int(g.requests[i]),
            "errors": int(g.errors[i]),
            "latency_p99_ms": _f(g.latency_p99_ms[i]),
            "safety": {m: _f(v[i]) for m, v in g.safety.items() if math.isfinite(v[i])},
            "exceptions": {t: int(v[i]) for t, v in g.exceptions.items() if v[i]},
        }
        for i in idx
    ]


def _with_evidence(p: _Paired, trigger: Trigger) -> Trigger:
    """Record the canary windows the trigger fired on and their holdout pairs, as the rule saw them."""
    wanted = np.array([_epoch(s) for s in trigger.window_starts], dtype=np.int64)
    idx = np.searchsorted(p.c.start, wanted).tolist()
    paired = [int(p.h[i]) for i in idx if p.ok[i]]  # every window a rule fires on is paired
    evidence = {
        "canary": _window_dicts(p.c, idx, "canary"),
        "holdout": _window_dicts(p.hold, paired, "holdout"),
    }
    return replace(trigger, evidence=evidence)


def evaluate(windows: Sequence[Window] | WindowArrays, rules: AbortRules) -> list[Trigger]:
    """Run the four rules against the holdout; every trigger, earliest first (the daemon aborts on it)."""
    p = _pair(_arrays(windows), rules)
    if p is None:
        return []
    found = [t for m in rules.safety_metrics for t in _safety_rule(p, rules, m)]
    found += _error_rule(p, rules) + _latency_rule(p, rules) + _exception_rule(p, rules)
    found = [_with_evidence(p, t) for t in found]
    return sorted(found, key=lambda t: (t.fired_at, RULES.index(t.rule), t.metric or ""))


# ---------------------------------------------------------------------------------------------------------
# Evidence: what a stage must gather before it may pass (a stage never passes on time alone)

WINDOW_MINUTES = 5  # the serving layer posts 5-minute windows
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
        return {
            "windows_received": self.windows_received,
            "windows_evaluable": self.windows_evaluable,
            "canary_requests": self.canary_requests,
            "holdout_requests": self.holdout_requests,
            "holdout_error_rate": self.holdout_error_rate,
            "need_windows": self.need_windows,
            "need_requests": self.need_requests,
            "enough": self.enough,
            "met_at": self.met_at.isoformat() if self.met_at else None,
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
    lo, hi = _epoch(since), _epoch(until)
    c, hold = arrays.canary, arrays.holdout
    c = c.select((c.start >= lo) & (c.end <= hi))
    _, ok = _evaluable(c, hold, rules.min_requests)
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
        met_at = _from_epoch(c.end[hit[0]]) if hit.size else None
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


# ---------------------------------------------------------------------------------------------------------
# Re-enable: the same rule on the trigger's windows against the pre-canary baseline


def _trigger_windows(trigger: Trigger, c: GroupArrays) -> NDArray[np.intp]:
    wanted = np.array([_epoch(s) for s in trigger.window_starts], dtype=np.int64)
    if wanted.size == 0 or len(c) == 0:
        raise ValueError("the trigger has no canary windows among the windows given")
    idx = np.minimum(np.searchsorted(c.start, wanted), len(c) - 1)
    if not bool(np.all(c.start[idx] == wanted)):
        raise ValueError("the trigger's canary windows are not among the windows given")
    return np.unique(idx)


def _verdict(rule: str, fires: bool, detail: str) -> str:
    if fires:
        return f"{rule} still fires against the pre-canary baseline ({detail}): the canary regressed"
    return f"{rule} no longer fires against the pre-canary baseline ({detail}): the holdout was the anomaly"


def _recheck_runs(
    rule: str,
    cond: BoolArray,
    c: GroupArrays,
    idx: NDArray[np.intp],
    minutes: float,
    rows: list[dict[str, Any]],
    reference: dict[str, Any],
    detail: str,
) -> Recheck:
    s, e = c.start[idx], c.end[idx]
    fires = bool(_runs(cond, _links(s, e), s, e, minutes * 60))
    figures = {
        "baseline": reference,
        "windows": rows,
        "breaching_windows": int(cond.sum()),
        "windows_checked": int(idx.size),
    }
    return Recheck(fires, figures, _verdict(rule, fires, detail))


def _recorded_canary(trigger: Trigger) -> GroupArrays:
    if not trigger.recorded:
        raise ValueError("the trigger carries no recorded canary windows to re-check")
    return GroupArrays.from_windows(Window.from_dict(w) for w in trigger.evidence["canary"])


def _recorded_sigma(trigger: Trigger, c: GroupArrays, idx: NDArray[np.intp]) -> FloatArray:
    """The σ each safety window was judged with, as recorded in the trigger's figures (NaN if absent)."""
    by_start = {_epoch(_parse_time(r["start"])): r.get("sigma") for r in trigger.figures.get("windows", [])}
    values = [by_start.get(int(c.start[i])) for i in idx.tolist()]
    return np.array([math.nan if v is None else float(v) for v in values], dtype=np.float64)


def _baseline_values(trigger: Trigger, base: GroupArrays, usable: BoolArray) -> FloatArray:
    """The usable baseline values of the latency and safety rules (checked before anything else)."""
    if trigger.rule == "latency_p99":
        b = base.latency_p99_ms[usable & np.isfinite(base.latency_p99_ms)]
        if b.size == 0:
            raise NoBaseline("no pre-canary baseline window reports a p99 latency", rule="latency_p99")
        return b
    if trigger.rule == "safety":
        metric = trigger.metric or ""
        col = base.safety.get(metric)
        b = col[usable & np.isfinite(col)] if col is not None else np.zeros(0)
        if b.size < 2:
            raise NoBaseline(
                f"fewer than 2 pre-canary baseline windows report {metric}", rule="safety", metric=metric
            )
        return b
    return np.zeros(0)


def recheck_against_baseline(
    trigger: Trigger, baseline: Sequence[Window] | WindowArrays | GroupArrays, rules: AbortRules
) -> Recheck:
    """Re-run the trigger's rule on its recorded canary windows against the 1-hour pre-canary baseline
    (DESIGN §8). Only the baseline is taken from ``baseline`` (other groups in it are ignored): the canary
    figures are those recorded with the trigger, so windows re-posted after the abort change nothing."""
    base = baseline if isinstance(baseline, GroupArrays) else _arrays(baseline).baseline
    usable = base.requests >= rules.min_requests
    if not usable.any():
        raise NoBaseline(
            "no pre-canary baseline windows with enough requests to re-check the trigger",
            rule=trigger.rule,
            min_requests=rules.min_requests,
        )
    b = _baseline_values(trigger, base, usable)
    c = _recorded_canary(trigger)
    idx = _trigger_windows(trigger, c)
    ok = c.requests[idx] >= rules.min_requests
    if trigger.rule == "error_rate":
        return _recheck_error(c, base, usable, idx, ok, rules)
    if trigger.rule == "latency_p99":
        return _recheck_latency(c, b, idx, ok, rules)
    if trigger.rule == "safety":
        sigma_t = _recorded_sigma(trigger, c, idx)
        return _recheck_safety(trigger.metric or "", c, b, sigma_t, idx, ok, rules)
    if trigger.rule == "exception":
        return _recheck_exception(trigger.metric or "", c, base, usable, idx, ok, rules)
    raise ValueError(f"unknown rule {trigger.rule!r}")


def _recheck_error(
    c: GroupArrays,
    base: GroupArrays,
    usable: BoolArray,
    idx: NDArray[np.intp],
    ok: BoolArray,
    rules: AbortRules,
) -> Recheck:
    n_b, k_b = int(base.requests[usable].sum()), int(base.errors[usable].sum())
    rate_b = k_b / n_b
    ref = max(rate_b, 1.0 / n_b)
    req, err = c.requests[idx], c.errors[idx]
    crate = _rates(err, req)
    point = ok & (crate > rules.error_ratio * ref)
    cond, pval = _evidence(point, err, req * rules.error_ratio * ref, rules.evidence_alpha)
    rows = [
        {
            "start": _iso(c.start[i]),
            "canary_requests": int(req[j]),
            "canary_errors": int(err[j]),
            "canary_rate": _f(crate[j]),
            "ratio": _f(crate[j] / ref),
            "p_value": _f(pval[j]),
            "breach": bool(cond[j]),
        }
        for j, i in enumerate(idx.tolist())
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
    return _recheck_runs("error_rate", cond, c, idx, rules.error_minutes, rows, reference, detail)


def _recheck_latency(
    c: GroupArrays,
    b: FloatArray,
    idx: NDArray[np.intp],
    ok: BoolArray,
    rules: AbortRules,
) -> Recheck:
    median = float(np.median(b))  # median: one slow baseline window must not excuse the canary
    ref = max(median, rules.p99_floor_ms)
    p99 = c.latency_p99_ms[idx]
    with np.errstate(invalid="ignore"):
        cond = ok & (p99 > rules.p99_ratio * ref)
    rows = [
        {
            "start": _iso(c.start[i]),
            "canary_p99_ms": _f(p99[j]),
            "ratio": _f(p99[j] / ref),
            "breach": bool(cond[j]),
        }
        for j, i in enumerate(idx.tolist())
    ]
    reference = {
        "median_p99_ms": median,
        "reference_p99_ms": ref,
        "threshold_ms": rules.p99_ratio * ref,
        "windows": int(b.size),
    }
    detail = f"baseline median p99 {median:.1f} ms, threshold {rules.p99_ratio * ref:.1f} ms"
    return _recheck_runs("latency_p99", cond, c, idx, rules.p99_minutes, rows, reference, detail)


def _recheck_safety(
    metric: str,
    c: GroupArrays,
    b: FloatArray,
    sigma_t: FloatArray,
    idx: NDArray[np.intp],
    ok: BoolArray,
    rules: AbortRules,
) -> Recheck:
    mean, sigma_b = float(b.mean()), _sample_sigma(b)
    # The baseline is one hour of full traffic: its σ sees neither the day's swing nor the canary's smaller
    # samples, so alone it would refuse nearly every re-enable. Keep the σ the trigger was judged with
    # (``sigma_t``, recorded with it) as the least: the re-check swaps the reference level, never tightens
    # the scale.
    eff = np.fmax(np.fmax(sigma_t, sigma_b), rules.safety_sigma_floor)
    threshold = mean - rules.safety_sigma * eff
    cv = c.safety[metric][idx] if metric in c.safety else np.full(idx.size, math.nan)
    with np.errstate(invalid="ignore"):
        cond = ok & (cv < threshold)
    rows = [
        {
            "start": _iso(c.start[i]),
            "canary": _f(cv[j]),
            "trigger_sigma": _f(sigma_t[j]),
            "sigma_used": _f(eff[j]),
            "threshold": _f(threshold[j]),
            "deficit_sigmas": _f((mean - cv[j]) / eff[j]),
            "breach": bool(cond[j]),
        }
        for j, i in enumerate(idx.tolist())
    ]
    reference = {"metric": metric, "mean": mean, "sigma": sigma_b, "windows": int(b.size)}
    detail = (
        f"baseline {metric} {mean:.4f}, σ used {float(eff.min()):.4f}-{float(eff.max()):.4f}, "
        f"canary {float(np.nanmin(cv)):.4f}-{float(np.nanmax(cv)):.4f}"
    )
    return _recheck_runs("safety", cond, c, idx, rules.safety_minutes, rows, reference, detail)


def _recheck_exception(
    kind: str,
    c: GroupArrays,
    base: GroupArrays,
    usable: BoolArray,
    idx: NDArray[np.intp],
    ok: BoolArray,
    rules: AbortRules,
) -> Recheck:
    sel = idx[ok]
    n_c = int(c.requests[sel].sum())
    k_c = int(c.exceptions[kind][sel].sum()) if kind in c.exceptions else 0
    n_b = int(base.requests[usable].sum())
    k_b = int(base.exceptions[kind][usable].sum()) if kind in base.exceptions else 0
    r_c, r_b = (k_c / n_c if n_c else 0.0), k_b / n_b
    ref = max(r_b, 1.0 / n_b)
    expected = n_c * (ref + rules.exception_excess_rate)
    p = float(_p_upper(np.array([k_c]), np.array([expected]))[0]) if k_c else 1.0
    fires = bool(n_c and r_c - r_b > rules.exception_excess_rate and p < rules.evidence_alpha)
    figures = {
        "exception_type": kind,
        "canary_count": k_c,
        "canary_requests": n_c,
        "canary_rate": r_c,
        "baseline": {"count": k_b, "requests": n_b, "rate": r_b, "windows": int(usable.sum())},
        "excess": r_c - r_b,
        "p_value": p,
        "threshold": {
            "exception_excess_rate": rules.exception_excess_rate,
            "evidence_alpha": rules.evidence_alpha,
        },
    }
    detail = f"{kind}: canary {r_c:.4%} vs baseline {r_b:.4%}, excess limit {rules.exception_excess_rate:.2%}"
    return Recheck(fires, figures, _verdict("exception", fires, detail))


# ---------------------------------------------------------------------------------------------------------
# Bake: a stream of windows against a fixed reference group


@dataclass(frozen=True)
class Judgement:
    """The rules' triggers against a fixed reference, and which canary windows could be judged at all."""

    triggers: list[Trigger]
    evaluable_starts: IntArray


def tile(reference: GroupArrays, *, start_s: int, until_s: int, period_s: int = _DAY_S) -> GroupArrays:
    """Repeat the reference period before ``start_s`` once per period up to ``until_s``: each later window
    meets the reference window of the same time of day (the unshifted copy feeds the trailing 24 h σ)."""
    keep = (reference.start >= start_s - period_s) & (reference.end <= start_s)
    ref = reference.select(keep)
    copies = [ref]
    for k in range(1, max(1, math.ceil((until_s - start_s) / period_s)) + 1):
        shift = k * period_s
        copies.append(
            GroupArrays(
                ref.start + shift,
                ref.end + shift,
                ref.requests,
                ref.errors,
                ref.latency_p99_ms,
                ref.safety,
                ref.exceptions,
            )
        )
    return GroupArrays.from_columns(
        start=np.concatenate([c.start for c in copies]),
        end=np.concatenate([c.end for c in copies]),
        requests=np.concatenate([c.requests for c in copies]),
        errors=np.concatenate([c.errors for c in copies]),
        latency_p99_ms=np.concatenate([c.latency_p99_ms for c in copies]),
        safety={m: np.concatenate([v] * len(copies)) for m, v in ref.safety.items()},
        exceptions={t: np.concatenate([v] * len(copies)) for t, v in ref.exceptions.items()},
    )


def against_reference(
    canary: GroupArrays,
    reference: GroupArrays,
    rules: AbortRules,
    *,
    start_s: int,
    until_s: int,
    period_s: int = _DAY_S,
) -> Judgement:
    """Judge canary windows from ``start_s`` against a fixed reference period before it, with ``evaluate``.

    The bake after full promotion has no holdout any more: its reference is the old champion's windows
    of the day before promotion, tiled so each window is paired with the same time of day (a day's swing
    is not a regression). Everything else, pairing, evidence tests, σ, runs, is the live rule's.
    """
    ref = tile(reference, start_s=start_s, until_s=until_s, period_s=period_s)
    arrays = WindowArrays(canary.select(canary.start >= start_s), ref, GroupArrays.empty())
    p = _pair(arrays, rules)
    if p is None:
        return Judgement([], np.zeros(0, dtype=np.int64))
    return Judgement(evaluate(arrays, rules), p.c.start[p.ok])


__all__ = [
    "GROUPS",
    "RULES",
    "WINDOW_MINUTES",
    "AbortRules",
    "Evidence",
    "Judgement",
    "GroupArrays",
    "NoBaseline",
    "Recheck",
    "Trigger",
    "Window",
    "WindowArrays",
    "against_reference",
    "evaluate",
    "evidence_needed",
    "recheck_against_baseline",
    "requests_for_power",
    "stage_evidence",
    "tile",
]
