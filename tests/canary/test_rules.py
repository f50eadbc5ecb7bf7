"""The canary auto-abort rules: hand-computed windows at every boundary, then realistic seeded streams."""

from __future__ import annotations

import json
import math
import random
import statistics
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from scipy import stats

from gatekeeper.canary.rules import (
    AbortRules,
    GroupArrays,
    NoBaseline,
    Trigger,
    Window,
    WindowArrays,
    evaluate,
    evidence_needed,
    recheck_against_baseline,
    requests_for_power,
    stage_evidence,
)
from gatekeeper.canary.rules.safety import trailing_sigma as _trailing_sigma
from gatekeeper.canary.simulate import SAFETY_METRIC, Profile, Regression, baseline_windows, healthy_stream
from gatekeeper.errors import Conflict, ValidationFailed
from gatekeeper.policy.schema import parse_policy

T0 = datetime(2025, 1, 6, 12, 0, tzinfo=UTC)
STEP = timedelta(minutes=5)
M = "esc"  # the safety metric of the hand-built cases
SEED = "seed"  # these are the seed rules' own tests; the shipped default runs them with the sequential one
RULES = AbortRules(safety_metrics=(M,), rules=SEED)
LITERAL = AbortRules(
    safety_metrics=(M,), evidence_alpha=1.0, rules=SEED
)  # the rule as written, no evidence test


def at(i: int) -> datetime:
    return T0 + i * STEP


def win(
    group: str,
    i: int,
    *,
    requests: int,
    errors: int = 0,
    p99: float = 100.0,
    safety: float | None = 0.9,
    exceptions: Mapping[str, int] | None = None,
) -> Window:
    return Window(
        start=at(i),
        end=at(i + 1),
        group=group,
        requests=requests,
        errors=errors,
        latency_p99_ms=p99,
        safety={} if safety is None else {M: safety},
        exceptions=dict(exceptions or {}),
    )


def canary(i: int, **kw: object) -> Window:
    """A healthy canary window: 1,000 requests, 0.5 % errors, p99 100 ms, safety 0.9."""
    args: dict = {"requests": 1000, "errors": 5} | kw
    return win("canary", i, **args)


def holdout(i: int, **kw: object) -> Window:
    """A healthy holdout window: 10,000 requests, 0.5 % errors, p99 100 ms, safety 0.9."""
    args: dict = {"requests": 10_000, "errors": 50} | kw
    return win("holdout", i, **args)


def baseline(n: int = 12, **kw: object) -> list[Window]:
    args: dict = {"requests": 100_000, "errors": 500} | kw
    return [win("baseline", i - n, **args) for i in range(n)]


def stream(
    n: int,
    breach: Mapping[int, dict],
    *,
    skip: frozenset[int] | set[int] = frozenset(),
    no_holdout: frozenset[int] | set[int] = frozenset(),
    holdout_kw: Mapping[int, dict] | None = None,
) -> list[Window]:
    """Pairs 0..n-1, canary windows in ``breach`` changed, ``skip`` left out, ``no_holdout`` unpaired."""
    out = baseline(safety=0.9)
    for i in range(n):
        if i in skip:
            continue
        out.append(canary(i, **breach.get(i, {})))
        if i not in no_holdout:
            out.append(holdout(i, **(holdout_kw or {}).get(i, {})))
    return out


def only(triggers: list[Trigger], rule: str) -> list[Trigger]:
    return [t for t in triggers if t.rule == rule]


def starts(*idx: int) -> tuple[datetime, ...]:
    return tuple(at(i) for i in idx)


# ---------------------------------------------------------------------------------------------------------
# error_rate: > 2x holdout for more than 5 minutes = 2 contiguous windows

BAD_ERR = {"errors": 40}  # 4 % against 0.5 %: ratio 8, P(X >= 40 | 10 at the threshold) ~ 1e-13


def test_error_two_contiguous_windows_fire_one_does_not() -> None:
    assert only(evaluate(stream(10, {4: BAD_ERR}), RULES), "error_rate") == []
    [t] = only(evaluate(stream(10, {4: BAD_ERR, 5: BAD_ERR}), RULES), "error_rate")
    assert t.window_starts == starts(4, 5)
    assert t.fired_at == at(6)
    assert t.figures["span_minutes"] == 10.0
    row = t.figures["windows"][0]
    assert row["canary_rate"] == 0.04 and row["holdout_rate"] == 0.005
    assert row["ratio"] == pytest.approx(8.0)
    assert row["p_value"] == pytest.approx(stats.poisson.sf(39, 1000 * 2 * 0.005))


def test_error_long_breach_gives_one_trigger_at_its_first_firing_point() -> None:
    [t] = only(evaluate(stream(12, {i: BAD_ERR for i in range(3, 9)}), RULES), "error_rate")
    assert t.window_starts == starts(3, 4)


def test_error_run_broken_by_gap_low_traffic_or_missing_holdout() -> None:
    breach = {3: BAD_ERR, 5: BAD_ERR}
    assert only(evaluate(stream(8, breach, skip={4}), RULES), "error_rate") == []  # gap: 3 then 5
    breach = {3: BAD_ERR, 4: {"requests": 49, "errors": 49}, 5: BAD_ERR}
    assert only(evaluate(stream(8, breach), RULES), "error_rate") == []  # no evidence in the middle
    breach = {3: BAD_ERR, 4: BAD_ERR, 5: BAD_ERR}
    assert only(evaluate(stream(8, breach, no_holdout={4}), RULES), "error_rate") == []
    thin = {4: {"requests": 49, "errors": 1}}  # a holdout of 49 requests is no reference either
    assert only(evaluate(stream(8, breach, holdout_kw=thin), RULES), "error_rate") == []
    # the gap ends one run and a new one starts after it
    [t] = only(evaluate(stream(9, {3: BAD_ERR, 5: BAD_ERR, 6: BAD_ERR}, skip={4}), RULES), "error_rate")
    assert t.window_starts == starts(5, 6)


def test_low_traffic_windows_are_skipped_even_when_terrible() -> None:
    awful = {
        i: {"requests": 49, "errors": 49, "p99": 10_000.0, "safety": 0.0, "exceptions": {"Boom": 49}}
        for i in range(2, 20)
    }
    assert evaluate(stream(22, awful), RULES) == []
    at_limit = {i: {"requests": 50, "errors": 50} for i in range(2, 4)}  # fewer than 50 is skipped, 50 is not
    [t] = only(evaluate(stream(6, at_limit), RULES), "error_rate")
    assert t.window_starts == starts(2, 3)


def test_error_ratio_is_strict_and_needs_evidence() -> None:
    exactly_two = {i: {"errors": 10} for i in (2, 3)}  # 1 % = 2 x 0.5 %: not more than
    assert only(evaluate(stream(6, exactly_two), LITERAL), "error_rate") == []
    just_over = {i: {"errors": 11} for i in (2, 3)}
    assert len(only(evaluate(stream(6, just_over), LITERAL), "error_rate")) == 1
    # 11 errors when 10 are expected at the threshold: P = 0.42, no evidence the canary is over 2x
    assert only(evaluate(stream(6, just_over), RULES), "error_rate") == []
    assert stats.poisson.sf(10, 10.0) > RULES.evidence_alpha


def test_error_floor_when_the_holdout_has_no_errors() -> None:
    zero = {i: {"requests": 900, "errors": 0} for i in range(6)}
    one = zero | {i: {"requests": 900, "errors": 1} for i in range(2, 4)}
    # 1/900 against 0/900 is not 2 x max(0, 1/900): never an abort, even without the evidence test
    assert only(evaluate(stream(6, one, holdout_kw=zero), LITERAL), "error_rate") == []
    three = zero | {i: {"requests": 900, "errors": 3} for i in range(2, 4)}
    assert len(only(evaluate(stream(6, three, holdout_kw=zero), LITERAL), "error_rate")) == 1
    assert only(evaluate(stream(6, three, holdout_kw=zero), RULES), "error_rate") == []  # P = 0.32
    ten = zero | {i: {"requests": 900, "errors": 10} for i in range(2, 4)}
    [t] = only(evaluate(stream(6, ten, holdout_kw=zero), RULES), "error_rate")
    row = t.figures["windows"][0]
    assert row["holdout_rate"] == 0.0 and row["reference_rate"] == pytest.approx(1 / 900)
    assert row["p_value"] == pytest.approx(stats.poisson.sf(9, 2.0))


# ---------------------------------------------------------------------------------------------------------
# latency_p99: > 1.5x holdout for more than 15 minutes = 4 contiguous windows


def test_latency_four_windows_fire_three_do_not() -> None:
    slow = {"p99": 151.0}
    assert only(evaluate(stream(10, {i: slow for i in (2, 3, 4)}), RULES), "latency_p99") == []
    [t] = only(evaluate(stream(10, {i: slow for i in (2, 3, 4, 5)}), RULES), "latency_p99")
    assert t.window_starts == starts(2, 3, 4, 5) and t.figures["span_minutes"] == 20.0
    assert t.figures["windows"][0]["ratio"] == pytest.approx(1.51)
    at_ratio = {i: {"p99": 150.0} for i in range(2, 8)}  # exactly 1.5x: not more than
    assert only(evaluate(stream(10, at_ratio), RULES), "latency_p99") == []


def test_latency_run_broken_by_gap_low_traffic_and_missing_p99() -> None:
    slow = {i: {"p99": 300.0} for i in range(2, 9)}  # 7 windows: 2-4 and 6-8 around window 5
    assert len(only(evaluate(stream(10, slow), RULES), "latency_p99")) == 1
    assert only(evaluate(stream(10, slow, skip={5}), RULES), "latency_p99") == []
    assert only(evaluate(stream(10, slow | {5: {"requests": 10, "p99": 300.0}}), RULES), "latency_p99") == []
    assert only(evaluate(stream(10, slow | {5: {"p99": math.nan}}), RULES), "latency_p99") == []
    [t] = only(evaluate(stream(10, slow | {4: {"p99": math.nan}}), RULES), "latency_p99")
    assert t.window_starts == starts(5, 6, 7, 8)


def test_latency_floor_when_the_holdout_p99_is_zero() -> None:
    zero = {i: {"p99": 0.0} for i in range(10)}
    under = {i: {"p99": 1.4} for i in range(10)}  # 1.4 ms is not 1.5 x the 1 ms floor
    assert only(evaluate(stream(10, under, holdout_kw=zero), RULES), "latency_p99") == []
    over = {i: {"p99": 1.6} for i in range(10)}
    [t] = only(evaluate(stream(10, over, holdout_kw=zero), RULES), "latency_p99")
    assert t.figures["windows"][0]["reference_p99_ms"] == 1.0


# ---------------------------------------------------------------------------------------------------------
# safety: more than 2 sigma below the holdout for more than 60 minutes = 13 contiguous windows


def test_safety_thirteen_windows_fire_twelve_do_not() -> None:
    # holdout and baseline constant 0.9: sigma 0, floored at 0.001, so the limit is 0.9 - 0.002
    low = {"safety": 0.897}
    assert only(evaluate(stream(20, {i: low for i in range(2, 14)}), RULES), "safety") == []
    [t] = only(evaluate(stream(20, {i: low for i in range(2, 15)}), RULES), "safety")
    assert t.metric == M and t.window_starts == starts(*range(2, 15)) and t.figures["span_minutes"] == 65.0
    row = t.figures["windows"][0]
    assert row["sigma"] == 0.0 and row["sigma_used"] == 0.001 and row["threshold"] == pytest.approx(0.898)
    assert row["deficit_sigmas"] == pytest.approx(3.0)
    within = {i: {"safety": 0.899} for i in range(2, 18)}
    assert only(evaluate(stream(20, within), RULES), "safety") == []


def test_safety_run_broken_by_low_traffic_or_missing_holdout() -> None:
    low = {i: {"safety": 0.8} for i in range(0, 24)}
    assert only(evaluate(stream(24, low | {12: {"requests": 20, "safety": 0.0}}), RULES), "safety") == []
    assert only(evaluate(stream(24, low, no_holdout={12}), RULES), "safety") == []
    assert only(evaluate(stream(24, low | {12: {"safety": None}}), RULES), "safety") == []  # not reported
    assert len(only(evaluate(stream(24, low), RULES), "safety")) == 1


def test_safety_metrics_outside_the_policy_are_ignored() -> None:
    low = {i: {"safety": 0.5} for i in range(20)}
    assert only(evaluate(stream(20, low), AbortRules(safety_metrics=("other",), rules=SEED)), "safety") == []


def _sigma_case(
    n: int, base_values: list[float], hold_values: list[float], canary_values: list[float]
) -> list[Window]:
    out = [win("baseline", i - 12, requests=100_000, safety=v) for i, v in enumerate(base_values)]
    for i in range(n):
        out += [canary(i, safety=canary_values[i]), holdout(i, safety=hold_values[i])]
    return out


def test_safety_sigma_from_baseline_until_twelve_holdout_windows() -> None:
    base_values = [0.88, 0.92] * 6  # sigma_b = 0.02 * sqrt(12/11): 0.88 is within 2 sigma_b of 0.9
    sigma_b = statistics.stdev(base_values)
    assert 2 * sigma_b > 0.02 > 2 * RULES.safety_sigma_floor
    # holdout constant: its sigma is 0 (floored), so 0.88 breaches once it has 12 windows (i >= 11)
    case = _sigma_case(30, base_values, [0.9] * 30, [0.88] * 30)
    [t] = only(evaluate(case, RULES), "safety")
    assert t.window_starts == starts(*range(11, 24))
    assert {r["sigma_source"] for r in t.figures["windows"]} == {"holdout"}
    assert only(evaluate(case[: 12 + 2 * 23], RULES), "safety") == []  # windows 11..22: only 12

    # and the other way round: a tight baseline judges the first 11 windows, a noisy holdout the rest
    hold_values = [0.89, 0.91] * 15
    canary_values = [h - 0.015 for h in hold_values]
    case = _sigma_case(30, [0.9] * 12, hold_values, canary_values)
    short = AbortRules(safety_metrics=(M,), safety_minutes=30, rules=SEED)  # 7 windows
    [t] = only(evaluate(case, short), "safety")
    assert t.window_starts == starts(*range(0, 7))
    row = t.figures["windows"][0]
    assert row["sigma_source"] == "baseline" and row["sigma"] == 0.0 and row["sigma_windows"] == 12
    # from window 11 the holdout sigma (~0.0104) applies and 0.015 is no longer 2 sigma: nothing more
    assert only(evaluate(case, RULES), "safety") == []


def test_safety_sigma_uses_only_the_trailing_24_hours() -> None:
    n = 320
    hold_values = [0.7, 1.1] * 6 + [0.9] * (n - 12)  # a wild first hour, then constant
    case = _sigma_case(n, [0.7, 1.1] * 6, hold_values, [0.897] * n)
    [t] = only(evaluate(case, RULES), "safety")
    # holdout window i leaves the trailing 24 h of canary window j once i < j - 287: j = 299 for i = 11
    assert t.window_starts[0] == at(299) and t.fired_at == at(312)


def test_trailing_sigma_matches_a_brute_force_over_irregular_times() -> None:
    rng = np.random.default_rng(7)
    times = np.cumsum(rng.integers(1, 3, 500) * 300).astype(np.int64)
    values = 0.9 + rng.normal(0, 0.01, 500)
    at_times = np.sort(rng.integers(0, int(times[-1]) + 86_400, 200)).astype(np.int64)
    sigma, n = _trailing_sigma(times, values, at_times)
    for k, t in enumerate(at_times):
        sel = values[(times > t - 86_400) & (times <= t)]
        assert n[k] == sel.size
        if sel.size >= 2:
            assert sigma[k] == pytest.approx(np.std(sel, ddof=1), rel=1e-9)
        else:
            assert math.isnan(sigma[k])


# ---------------------------------------------------------------------------------------------------------
# exception: canary rate exceeds the holdout rate by more than 0.1 % over the trailing hour


def _exc_stream(
    n: int,
    canary_exc: Mapping[int, Mapping[str, int]],
    holdout_exc: Mapping[int, Mapping[str, int]] | None = None,
    canary_kw: Mapping[int, dict] | None = None,
) -> list[Window]:
    out: list[Window] = []
    for i in range(n):
        out.append(canary(i, exceptions=canary_exc.get(i, {}), **(canary_kw or {}).get(i, {})))
        out.append(holdout(i, exceptions=(holdout_exc or {}).get(i, {})))
    return out


def test_exception_canary_only_type_just_above_and_below_the_excess() -> None:
    # window 12's trailing hour is windows 1..12: 12,000 canary requests; 12 = 0.1 % exactly, 13 is over
    assert evaluate(_exc_stream(20, {12: {"NewError": 12}}), LITERAL) == []
    [t] = evaluate(_exc_stream(20, {12: {"NewError": 13}}), LITERAL)
    assert (t.rule, t.metric) == ("exception", "NewError")
    assert t.window_starts == starts(*range(1, 13)) and t.fired_at == at(13)
    f = t.figures
    assert (f["canary_count"], f["canary_requests"]) == (13, 12_000)
    assert (f["holdout_count"], f["holdout_requests"], f["holdout_rate"]) == (0, 120_000, 0.0)
    assert f["excess"] == pytest.approx(13 / 12_000)


def test_exception_in_both_groups_at_equal_rates_never_fires() -> None:
    canary_exc = {i: {"Timeout": 2} for i in range(24)}  # 0.2 % in both groups: well above 0.1 % absolute
    holdout_exc = {i: {"Timeout": 20} for i in range(24)}
    assert evaluate(_exc_stream(24, canary_exc, holdout_exc), LITERAL) == []


def test_exception_in_both_groups_just_above_and_below_the_excess() -> None:
    holdout_exc = {i: {"Timeout": 5} for i in range(24)}  # 0.05 % of 10,000 every window
    below = {12: {"Timeout": 17}}  # 17 / 12,000 - 0.05 % = 0.0917 %
    above = {12: {"Timeout": 19}}  # 0.1083 %
    assert evaluate(_exc_stream(24, below, holdout_exc), LITERAL) == []
    [t] = evaluate(_exc_stream(24, above, holdout_exc), LITERAL)
    assert t.figures["holdout_rate"] == pytest.approx(60 / 120_000)
    assert t.figures["excess"] == pytest.approx(19 / 12_000 - 0.0005)


def test_exception_evidence_test_and_its_p_value() -> None:
    # 13 of 12,000 is over the line, but 12.1 are expected at the line itself: P = 0.42, no abort
    assert evaluate(_exc_stream(20, {12: {"NewError": 13}}), RULES) == []
    [t] = evaluate(_exc_stream(20, {12: {"NewError": 30}}), RULES)
    expected = 12_000 * (1 / 120_000 + 0.001)  # floor 1 / holdout requests for a canary-only type
    assert t.figures["p_value"] == pytest.approx(stats.poisson.sf(29, expected))


def test_exception_needs_an_hour_of_minimal_traffic_pooled() -> None:
    # evaluable windows of 100 requests: the pooled 600 needed take 6 of them
    small = {i: {"requests": 100, "errors": 0} for i in range(12)}
    [t] = evaluate(_exc_stream(12, {2: {"NewError": 10}}, canary_kw=small), LITERAL)
    assert t.fired_at == at(6) and t.figures["canary_requests"] == 600
    assert t.window_starts == starts(*range(0, 6))


def test_exception_episodes_holdout_only_types_and_low_traffic() -> None:
    two_bursts = {12: {"NewError": 30}, 40: {"NewError": 30}}
    assert [t.fired_at for t in evaluate(_exc_stream(50, two_bursts), RULES)] == [at(13), at(41)]
    assert evaluate(_exc_stream(20, {}, {i: {"OnlyChampion": 500} for i in range(20)}), RULES) == []
    thin = {5: {"requests": 40}}
    assert evaluate(_exc_stream(20, {5: {"NewError": 40}}, canary_kw=thin), RULES) == []


# ---------------------------------------------------------------------------------------------------------
# Input handling


def _mixed_breach() -> list[Window]:
    breach = {i: {"errors": 40, "p99": 400.0, "safety": 0.5} for i in range(4, 20)}
    return stream(30, breach | {25: {"exceptions": {"NewError": 60}}})


def test_out_of_order_input_gives_the_same_triggers() -> None:
    windows = _mixed_breach()
    expected = [t.to_dict() for t in evaluate(windows, RULES)]
    assert [t["rule"] for t in expected] == ["error_rate", "latency_p99", "safety", "exception"]
    for seed in range(5):
        shuffled = windows[:]
        random.Random(seed).shuffle(shuffled)
        assert [t.to_dict() for t in evaluate(shuffled, RULES)] == expected


def test_duplicate_windows_last_one_wins() -> None:
    windows = stream(8, {3: BAD_ERR, 4: BAD_ERR})
    assert len(only(evaluate(windows, RULES), "error_rate")) == 1
    assert only(evaluate(windows + [canary(4)], RULES), "error_rate") == []  # healthy copy given last
    assert len(only(evaluate([canary(4)] + windows, RULES), "error_rate")) == 1  # breach copy given last


def test_columns_entry_point_matches_windows() -> None:
    windows = _mixed_breach()
    expected = [t.to_dict() for t in evaluate(windows, RULES)]
    groups = {}
    rng = np.random.default_rng(3)
    for g in ("canary", "holdout", "baseline"):
        ws = [w for w in windows if w.group == g]
        order = rng.permutation(len(ws))  # columns in any order, times as datetime64
        ws = [ws[k] for k in order]
        groups[g] = GroupArrays.from_columns(
            start=np.array([w.start.replace(tzinfo=None) for w in ws], dtype="datetime64[s]"),
            end=np.array([w.end.replace(tzinfo=None) for w in ws], dtype="datetime64[s]"),
            requests=[w.requests for w in ws],
            errors=[w.errors for w in ws],
            latency_p99_ms=[w.latency_p99_ms for w in ws],
            safety={M: [w.safety.get(M, math.nan) for w in ws]},
            exceptions={"NewError": [w.exceptions.get("NewError", 0) for w in ws]},
        )
    assert [t.to_dict() for t in evaluate(WindowArrays(**groups), RULES)] == expected


def test_naive_datetimes_are_utc() -> None:
    windows = stream(8, {3: BAD_ERR, 4: BAD_ERR})
    naive = [
        Window(
            w.start.replace(tzinfo=None),
            w.end.replace(tzinfo=None),
            w.group,
            w.requests,
            w.errors,
            w.latency_p99_ms,
            w.safety,
            w.exceptions,
        )
        for w in windows
    ]
    assert [t.to_dict() for t in evaluate(naive, RULES)] == [t.to_dict() for t in evaluate(windows, RULES)]


def test_empty_and_unpaired_inputs_trigger_nothing() -> None:
    assert evaluate([], RULES) == []
    assert evaluate([canary(i, errors=500) for i in range(10)], RULES) == []
    assert evaluate(WindowArrays(GroupArrays.empty(), GroupArrays.empty(), GroupArrays.empty()), RULES) == []


def test_windows_and_rules_refuse_nonsense() -> None:
    with pytest.raises(ValueError):
        canary(0, errors=1001)
    with pytest.raises(ValueError):
        win("shadow", 0, requests=10)
    with pytest.raises(ValueError):
        Window(at(1), at(0), "canary", 1, 0, 1.0)
    with pytest.raises(ValueError):
        AbortRules(min_requests=0)
    with pytest.raises(ValueError):
        AbortRules.from_policy({"error_ratoi": 2.0}, [M])
    with pytest.raises(ValueError):
        GroupArrays.from_columns(
            start=[0, 300], end=[300], requests=[1, 1], errors=[0, 0], latency_p99_ms=[1, 1]
        )


def test_rules_from_the_design_policy() -> None:
    policy = {
        "safety_sigma": 2.0,
        "safety_minutes": 60,
        "error_ratio": 2.0,
        "error_minutes": 5,
        "p99_ratio": 1.5,
        "p99_minutes": 15,
        "exception_excess_rate": 0.001,
        "min_requests": 50,
    }
    rules = AbortRules.from_policy(policy, ["escalation_resolution_rate"])
    assert rules == AbortRules(safety_metrics=("escalation_resolution_rate",))
    assert rules.rules == "both"  # the seed's four rules and the sequential one: whichever fires first
    assert isinstance(rules.min_requests, int)
    assert json.loads(json.dumps(rules.to_dict()))["min_requests"] == 50


def test_trigger_round_trips_through_json() -> None:
    windows = _mixed_breach() + baseline(safety=0.9)
    for t in evaluate(windows, RULES):
        text = json.dumps(t.to_dict(), allow_nan=False)
        back = Trigger.from_dict(json.loads(text))
        assert back == t
        assert recheck_against_baseline(back, windows, RULES) == recheck_against_baseline(t, windows, RULES)


def test_window_from_dict() -> None:
    w = Window.from_dict(
        {
            "start": "2025-01-06T12:00:00+00:00",
            "end": "2025-01-06T12:05:00+00:00",
            "group": "canary",
            "requests": 10,
            "errors": 1,
            "latency_p99_ms": 5,
            "safety": {M: 0.5},
            "exceptions": {"X": 2},
        }
    )
    assert w == win("canary", 0, requests=10, errors=1, p99=5.0, safety=0.5, exceptions={"X": 2})


# ---------------------------------------------------------------------------------------------------------
# Re-enable: the trigger's windows against the pre-canary baseline


def test_recheck_error_holdout_anomaly_and_real_regression() -> None:
    quiet_holdout = {i: {"requests": 100_000, "errors": 0} for i in range(6)}
    anomaly = stream(6, {}, holdout_kw=quiet_holdout)  # canary 0.5 %, holdout suddenly 0 %
    [t] = only(evaluate(anomaly, RULES), "error_rate")
    r = recheck_against_baseline(t, anomaly, RULES)
    assert not r.fires and "holdout was the anomaly" in r.reason
    assert r.figures["baseline"]["rate"] == 0.005 and r.figures["baseline"]["requests"] == 1_200_000

    real = stream(6, {2: BAD_ERR, 3: BAD_ERR})
    [t] = only(evaluate(real, RULES), "error_rate")
    r = recheck_against_baseline(t, real, RULES)
    assert r.fires and "canary regressed" in r.reason
    assert [w["breach"] for w in r.figures["windows"]] == [True, True]


def test_recheck_latency_and_exception() -> None:
    fast_holdout = {i: {"p99": 50.0} for i in range(8)}
    anomaly = stream(8, {}, holdout_kw=fast_holdout)
    [t] = only(evaluate(anomaly, RULES), "latency_p99")
    assert not recheck_against_baseline(t, anomaly, RULES).fires  # baseline median 100 ms
    real = stream(8, {i: {"p99": 200.0} for i in range(8)})
    [t] = only(evaluate(real, RULES), "latency_p99")
    assert recheck_against_baseline(t, real, RULES).fires
    # one slow baseline window (mean 258 ms) must not excuse the canary: the reference is the median
    slow_window = win("baseline", -12, requests=100_000, p99=2000.0)
    slow_hour = [w for w in real if w.group != "baseline"] + baseline(n=11) + [slow_window]
    r = recheck_against_baseline(t, slow_hour, RULES)
    assert r.fires and r.figures["baseline"]["median_p99_ms"] == 100.0

    # the champion usually throws Timeout at 0.2 %; during the canary the holdout happens not to
    base = [win("baseline", i - 12, requests=100_000, exceptions={"Timeout": 200}) for i in range(12)]
    windows = base + _exc_stream(14, {i: {"Timeout": 2} for i in range(14)})
    [t] = evaluate(windows, LITERAL)
    r = recheck_against_baseline(t, windows, LITERAL)
    assert not r.fires and r.figures["baseline"]["rate"] == pytest.approx(0.002)
    windows = base + _exc_stream(14, {i: {"Timeout": 20} for i in range(14)})
    [t] = evaluate(windows, RULES)
    assert recheck_against_baseline(t, windows, RULES).fires


def test_recheck_safety_keeps_the_trigger_sigma_as_the_least() -> None:
    # baseline constant 0.9 (sigma 0): alone it would call 0.897 a breach; the trigger's sigma says not
    high_holdout = {i: {"safety": 0.95} for i in range(20)}
    windows = stream(20, {}, holdout_kw=high_holdout)  # canary 0.9, holdout spikes to 0.95
    [t] = only(evaluate(windows, RULES), "safety")
    r = recheck_against_baseline(t, windows, RULES)
    assert not r.fires and r.figures["baseline"]["mean"] == pytest.approx(0.9)
    windows = stream(20, {i: {"safety": 0.85} for i in range(20)})
    [t] = only(evaluate(windows, RULES), "safety")
    r = recheck_against_baseline(t, windows, RULES)
    assert r.fires and r.figures["windows"][0]["threshold"] == pytest.approx(0.898)


def test_recheck_judges_the_recorded_windows_not_the_ones_given() -> None:
    real = stream(6, {2: BAD_ERR, 3: BAD_ERR})
    [t] = only(evaluate(real, RULES), "error_rate")
    assert [w["errors"] for w in t.evidence["canary"]] == [40, 40]
    assert [w["errors"] for w in t.evidence["holdout"]] == [50, 50]
    rewritten = stream(6, {})  # the same keys, healthy figures: what a re-post after the abort would say
    assert recheck_against_baseline(t, rewritten, RULES) == recheck_against_baseline(t, real, RULES)
    assert recheck_against_baseline(t, baseline(), RULES).fires  # the baseline alone is enough
    with pytest.raises(ValueError, match="recorded"):
        recheck_against_baseline(
            Trigger(t.rule, t.metric, t.window_starts, t.figures, t.fired_at), real, RULES
        )


def test_recheck_safety_uses_the_recorded_sigma() -> None:
    windows = stream(20, {i: {"safety": 0.85} for i in range(20)})
    [t] = only(evaluate(windows, RULES), "safety")
    r = recheck_against_baseline(t, baseline(safety=0.9), RULES)
    recorded = [row["sigma"] for row in t.figures["windows"]]
    assert [w["trigger_sigma"] for w in r.figures["windows"]] == pytest.approx(recorded)


SEQUENTIAL = AbortRules(safety_metrics=(M,), rules="sequential")


def _sequential_trigger(windows: list[Window]) -> Trigger:
    [t] = only(evaluate(windows, SEQUENTIAL), "sequential")
    return t


def test_recheck_sequential_reruns_its_test_on_every_window_it_saw() -> None:
    # the holdout's errors drop to 0.1 % while the canary keeps the baseline's 0.5 %: the holdout's fault
    anomaly = stream(24, {}, holdout_kw={i: {"errors": 10} for i in range(24)})
    t = _sequential_trigger(anomaly)
    assert t.metric == "error_ratio"
    assert [w["start"] for w in t.evidence["canary"]] == [
        at(i).isoformat() for i in range(len(t.evidence["canary"]))
    ]
    r = recheck_against_baseline(t, anomaly, SEQUENTIAL)
    assert not r.fires and "holdout was the anomaly" in r.reason
    assert r.figures["looks"] == r.figures["evaluable"] == len(t.evidence["canary"])
    # a canary at 2 % against a 0.5 % holdout and a 0.5 % baseline: regressed against both
    real = stream(24, {i: {"errors": 20} for i in range(24)})
    t = _sequential_trigger(real)
    r = recheck_against_baseline(t, real, SEQUENTIAL)
    assert r.fires and "canary regressed" in r.reason
    assert r.figures["fired"] is not None and r.figures["p_value"] <= r.figures["alpha"] == 0.05 / 4


def test_recheck_sequential_judges_the_recorded_windows_not_the_ones_given() -> None:
    real = stream(24, {i: {"errors": 20} for i in range(24)})
    t = _sequential_trigger(real)
    healed = stream(400, {})  # the same keys with healthy figures, and a healthy day after the trigger
    assert recheck_against_baseline(t, healed, SEQUENTIAL) == recheck_against_baseline(t, real, SEQUENTIAL)
    with pytest.raises(ValueError, match="recorded"):
        recheck_against_baseline(
            Trigger(t.rule, t.metric, t.window_starts, t.figures, t.fired_at), real, SEQUENTIAL
        )
    with pytest.raises(NoBaseline):
        recheck_against_baseline(t, [w for w in real if w.group != "baseline"], SEQUENTIAL)


def test_recheck_sequential_needs_a_baseline_that_reports_the_effect() -> None:
    low = {i: {"safety": 0.8} for i in range(40)}  # the canary's safety metric drops by 0.1
    t = _sequential_trigger(stream(40, low))
    assert t.metric == M
    assert recheck_against_baseline(t, baseline(safety=0.9), SEQUENTIAL).fires
    with pytest.raises(NoBaseline, match="report"):
        recheck_against_baseline(t, baseline(safety=None), SEQUENTIAL)


def test_recheck_sequential_pools_the_baseline_hour_as_every_look_s_reference() -> None:
    # one thin baseline window among eleven full ones: pooled, the hour is still strong evidence
    base = [*baseline(n=11), win("baseline", -1, requests=2_000, errors=10)]
    real = [w for w in stream(24, {i: {"errors": 20} for i in range(24)}) if w.group != "baseline"]
    t = _sequential_trigger(real + base)
    r = recheck_against_baseline(t, base, SEQUENTIAL)
    assert r.fires and r.figures["fired"] == 0  # 20 errors in 1,000 against 0.5 % of 1.1 M: at once


def test_recheck_without_baseline_raises_no_baseline() -> None:
    windows = [w for w in stream(6, {2: BAD_ERR, 3: BAD_ERR}) if w.group != "baseline"]
    [t] = evaluate(windows, RULES)
    with pytest.raises(NoBaseline) as err:
        recheck_against_baseline(t, windows, RULES)
    assert isinstance(err.value, Conflict)  # answered with 409: tests/api/test_error_status.py
    thin = windows + baseline(requests=10, errors=0)
    with pytest.raises(NoBaseline):
        recheck_against_baseline(t, thin, RULES)
    safety_t = Trigger("safety", M, t.window_starts, {}, t.fired_at)
    with pytest.raises(NoBaseline):  # one baseline window cannot give a sigma
        recheck_against_baseline(safety_t, windows + baseline(n=1), RULES)
    with pytest.raises(ValueError):
        stray = Trigger("error_rate", None, (at(99),), {}, at(100))
        recheck_against_baseline(stray, thin + baseline(), RULES)


# ---------------------------------------------------------------------------------------------------------
# Realistic streams (gatekeeper/canary/simulate.py): 7 days of 5-minute windows


STREAM_RULES = AbortRules(safety_metrics=(SAFETY_METRIC,), rules=SEED)
START = datetime(2025, 3, 3, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("seed", range(6))
def test_a_noisy_healthy_week_triggers_nothing(seed: int) -> None:
    windows = healthy_stream(START + timedelta(hours=7 * seed), 7, seed)
    c = np.array([w.requests for w in windows if w.group == "canary"])
    assert c.size == 7 * 288 and (c < 50).any() and c.max() > 2_000  # night lulls and a busy peak
    assert any(w.exceptions for w in windows if w.group == "canary")
    assert evaluate(windows, STREAM_RULES) == []


def test_the_literal_rules_would_abort_the_healthy_week() -> None:
    literal = AbortRules(safety_metrics=(SAFETY_METRIC,), evidence_alpha=1.0, rules=SEED)
    assert len(evaluate(healthy_stream(START, 7, 0), literal)) > 3


@pytest.mark.parametrize("seed", range(4))
def test_a_real_error_regression_triggers(seed: int) -> None:
    onset = timedelta(days=2, hours=11)  # 30 minutes of 3x errors at the daily peak
    regression = Regression("error_rate", onset, timedelta(minutes=30), 3.0)
    windows = healthy_stream(START, 3, seed, regression=regression)
    found = evaluate(windows, STREAM_RULES)
    assert found and {t.rule for t in found} == {"error_rate"}
    assert all(START + onset < t.fired_at <= START + onset + timedelta(minutes=30) for t in found)


@pytest.mark.parametrize("kind", ["safety", "error_rate"])
@pytest.mark.parametrize("seed", range(3))
def test_holdout_anomaly_fires_but_not_against_the_baseline(kind: str, seed: int) -> None:
    start = START + timedelta(hours=12)  # the baseline hour is the daily peak; so is the anomaly, a day on
    change = 0.08 if kind == "safety" else 0.02  # holdout safety up / holdout errors down to near zero
    anomaly = Regression(kind, timedelta(hours=23), timedelta(hours=2), change)  # type: ignore[arg-type]
    windows = healthy_stream(start, 2, seed, holdout_anomaly=anomaly)
    arrays = WindowArrays.from_windows(windows)
    found = evaluate(arrays, STREAM_RULES)
    assert found and {t.rule for t in found} == {kind}
    for t in found:
        assert not recheck_against_baseline(t, arrays, STREAM_RULES).fires


@pytest.mark.parametrize("seed", range(3))
def test_real_safety_regression_fires_under_both(seed: int) -> None:
    start = START + timedelta(hours=12)
    drop = Regression("safety", timedelta(hours=23), timedelta(hours=2), -0.08)
    windows = healthy_stream(start, 2, seed, regression=drop)
    [t] = evaluate(windows, STREAM_RULES)
    assert t.rule == "safety" and len(t.window_starts) == 13
    assert recheck_against_baseline(t, windows, STREAM_RULES).fires


def test_streams_are_seeded_and_carry_a_baseline_hour() -> None:
    a, b = healthy_stream(START, 1, 5), healthy_stream(START, 1, 5)
    assert a == b and a != healthy_stream(START, 1, 6)
    base = [w for w in a if w.group == "baseline"]
    assert base == baseline_windows(START, 5) and len(base) == 12 and base[-1].end == START
    quiet_profile = Profile(exception_rates={}, outages_per_day=0)
    quiet = healthy_stream(START, 1, 5, profile=quiet_profile, baseline=False)
    assert not any(w.exceptions for w in quiet) and all(w.group != "baseline" for w in quiet)


def test_select_keeps_the_masked_windows_in_every_column() -> None:
    import numpy as np

    from gatekeeper.canary.rules import GroupArrays

    g = GroupArrays.from_columns(
        start=[0, 300, 600],
        end=[300, 600, 900],
        requests=[10, 20, 30],
        errors=[1, 2, 3],
        latency_p99_ms=[5.0, 6.0, 7.0],
        safety={"s": [0.9, 0.8, 0.7]},
        exceptions={"E": [0, 1, 0]},
    )
    picked = g.select(np.array([True, False, True]))
    assert picked.start.tolist() == [0, 600] and picked.requests.tolist() == [10, 30]
    assert picked.safety["s"].tolist() == [0.9, 0.7] and picked.exceptions["E"].tolist() == [0, 0]


def test_a_window_round_trips_through_its_json_form() -> None:
    for window in healthy_stream(START, 0.1, 3):
        body = window.to_dict()
        assert json.loads(json.dumps(body)) == body  # plain JSON, as the API receives it
        assert Window.from_dict(body) == window


# --- stage evidence: how much a stage must gather before it may pass ----------------------------------


def _brute_force_requests(rate: float, ratio: float, alpha: float, power: float, upto: int) -> int | None:
    """Scan every N: reject at the Poisson tail, power at ratio x rate; the first N to reach it."""
    n = np.arange(1, upto + 1)
    mu0 = n * rate
    k = np.zeros(n.size, dtype=np.int64)  # reject at X >= k: raise k while P(X >= k | mu0) >= alpha
    for _ in range(200):
        low = stats.poisson.sf(k - 1, mu0) >= alpha
        if not low.any():
            break
        k[low] += 1
    achieved = stats.poisson.sf(k - 1, ratio * mu0)
    hit = np.flatnonzero(achieved >= power)
    return int(n[hit[0]]) if hit.size else None


@pytest.mark.parametrize(
    ("rate", "ratio", "alpha", "power"),
    [(0.006, 2.0, 0.05, 0.8), (0.05, 2.0, 0.05, 0.8), (0.3, 1.5, 0.01, 0.9), (0.02, 3.0, 0.2, 0.8)],
)
def test_requests_for_power_matches_a_brute_force_scan(rate, ratio, alpha, power) -> None:  # noqa: ANN001
    n = requests_for_power(rate, ratio, alpha, power)
    assert n == _brute_force_requests(rate, ratio, alpha, power, upto=3 * n)


def test_requests_for_power_by_simulation() -> None:
    """Binomial canary errors at 2x the holdout's 0.6 %, judged with the rule's own evidence test."""
    rate, ratio, alpha = 0.006, RULES.error_ratio, RULES.evidence_alpha
    n = requests_for_power(rate, ratio, alpha, 0.8)
    rng = np.random.default_rng(13)

    def detected(requests: int, true_rate: float) -> float:
        errors = rng.binomial(requests, true_rate, size=20_000)
        p = stats.poisson.sf(errors - 1, requests * rate)  # the rule's tail: P(X >= count) at the holdout
        return float(np.mean(p < alpha))

    assert detected(n, ratio * rate) >= 0.8 - 0.015  # the stated power, within simulation error
    assert detected(n // 2, ratio * rate) < 0.7  # half the evidence is clearly not enough
    assert detected(n, rate) <= alpha  # and a healthy canary is rarely "detected"


def test_requests_for_power_refuses_an_underivable_question() -> None:
    for args in [(0.0, 2.0, 0.05, 0.8), (0.01, 1.0, 0.05, 0.8), (0.01, 2.0, 0.9, 0.8)]:
        with pytest.raises(ValueError):
            requests_for_power(*args)


def test_shipped_policy_evidence_default() -> None:
    """What the shipped policy asks of a stage at the simulator's 0.5 % holdout error rate (docs quote it)."""
    from tests.conftest import POLICY_FILE

    policy = parse_policy(POLICY_FILE.read_text())
    rules = AbortRules.from_policy(policy.abort_rules.model_dump(), policy.canary.safety_metrics)
    need_w, need_r = evidence_needed(0.005, rules, power=policy.canary.evidence_power)
    assert need_r == requests_for_power(0.005, 2.0, 0.05, 0.8) == 1813
    assert need_w == math.ceil(1813 / 50) == 37
    assert evidence_needed(None, rules, power=0.8) == (2, None)  # error rule's 2-window run; requests unknown
    assert evidence_needed(0.005, rules, power=0.8, min_windows=5, min_requests=300) == (5, 300)
    assert evidence_needed(0.005, rules, power=0.8, min_requests=300) == (6, 300)
    literal = AbortRules(evidence_alpha=1.0, rules=SEED)  # no evidence test of its own: derived at 1 - power
    assert evidence_needed(0.005, literal, power=0.8)[1] == requests_for_power(0.005, 2.0, 0.2, 0.8)


def test_stage_evidence_counts_received_and_evaluable_windows() -> None:
    windows = []
    for i, (c_req, h_req) in enumerate(
        [(100, 1000), (20, 1000), (100, 10), (100, None), (80, 1000), (90, 1000)]
    ):
        windows.append(canary(i, requests=c_req, errors=0))
        if h_req is not None:
            windows.append(holdout(i, requests=h_req, errors=h_req // 100))
    arrays = WindowArrays.from_windows(windows)
    found = stage_evidence(
        arrays, RULES, since=at(0), until=at(6), power=0.8, min_windows=2, min_requests=150
    )
    assert (found.windows_received, found.windows_evaluable, found.canary_requests) == (6, 3, 270)
    assert found.holdout_requests == 4000 and found.holdout_error_rate == pytest.approx(0.01)
    assert found.met_at == at(5)  # the 2nd evaluable window reaches 2 windows and 180 >= 150 requests
    late = stage_evidence(arrays, RULES, since=at(1), until=at(6), power=0.8, min_windows=2, min_requests=150)
    assert (late.windows_received, late.windows_evaluable, late.met_at) == (5, 2, at(6))
    cut = stage_evidence(arrays, RULES, since=at(0), until=at(4), power=0.8, min_windows=2, min_requests=150)
    assert cut.windows_received == 4 and cut.met_at is None and not cut.enough  # window 4 ends after until
    derived = stage_evidence(arrays, RULES, since=at(0), until=at(6), power=0.8)
    assert derived.need_requests == requests_for_power(0.01, 2.0, 0.05, 0.8) and not derived.enough
    empty = stage_evidence(WindowArrays.from_windows([]), RULES, since=at(0), until=at(6), power=0.8)
    assert (empty.windows_received, empty.need_requests, empty.enough) == (0, None, False)


def _policy_with(**sections: str) -> str:
    from tests.conftest import POLICY_FILE

    text = POLICY_FILE.read_text()
    for old, new in sections.items():
        text = text.replace(old, new)
    return text


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("min_requests: 50,", "min_requests: 0,", "policy.abort_rules.min_requests"),
        ("min_requests: 50,", "min_requests: 50, error_ratoi: 3,", "policy.abort_rules.error_ratoi"),
        ("evidence_alpha: 0.05", "evidence_alpha: 0", "policy.abort_rules.evidence_alpha"),
        ("error_ratio: 2.0", "error_ratio: 1.0", "policy.abort_rules.error_ratio"),
        (
            "{share: 0.01, days: 7}",
            "{share: 0.01, days: 7, min_windows: 0}",
            "policy.canary.stages.0.min_windows",
        ),
        ("tick_minutes: 5", "tick_minutes: 5\n  progress_deadline: 3", "policy.canary.progress_deadline"),
    ],
)
def test_policy_refuses_bad_evidence_settings_naming_the_field(old: str, new: str, field: str) -> None:
    text = _policy_with(**{old: new})
    assert text != _policy_with()
    with pytest.raises(ValidationFailed) as refused:
        parse_policy(text)
    assert refused.value.fields["field"] == field


def test_policy_accepts_every_abort_rule_knob_and_stage_evidence() -> None:
    text = _policy_with(
        **{
            "min_requests: 50,": "min_requests: 40,",
            "evidence_alpha: 0.05, safety_sigma_floor: 0.001, p99_floor_ms: 1.0}": (
                "evidence_alpha: 0.01, p99_floor_ms: 2.0, safety_sigma_floor: 0.002}"
            ),
            "{share: 0.01, days: 7}": "{share: 0.01, days: 7, min_windows: 100, min_requests: 5000}",
            "progress_deadline_hours: 24": "progress_deadline_hours: 12",
            "evidence_power: 0.8": "evidence_power: 0.9",
        }
    )
    policy = parse_policy(text)
    rules = AbortRules.from_policy(policy.abort_rules.model_dump(), policy.canary.safety_metrics)
    assert (rules.evidence_alpha, rules.p99_floor_ms, rules.safety_sigma_floor, rules.min_requests) == (
        0.01,
        2.0,
        0.002,
        40,
    )
    assert (policy.canary.stages[0].min_windows, policy.canary.stages[0].min_requests) == (100, 5000)
    assert (policy.canary.progress_deadline_hours, policy.canary.evidence_power) == (12, 0.9)
