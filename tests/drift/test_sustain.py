"""Sustained-alert rule on simulated streams whose window values come from the real statistics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache

import numpy as np
import pytest

from gatekeeper.drift.stats import build_reference, compute_window, concept_delta_f1, label_chi2
from gatekeeper.drift.sustain import SustainRule, Window, rules_from_policy, sustained

T0 = datetime(2025, 3, 3, tzinfo=UTC)
HOUR, DAY = timedelta(hours=1), timedelta(days=1)
POLICY = {
    "psi": 0.2,
    "psi_hours": 24,
    "label_chi2_p": 0.01,
    "label_days": 7,
    "prediction_ks": 0.15,
    "ks_hours": 24,
    "concept_delta_f1": 0.03,
    "concept_days": 7,
}
RULES = rules_from_policy(POLICY)
CLASSES = ["product_search", "order_status", "recommendation", "return_request", "escalation"]
PRIORS = [0.4, 0.25, 0.2, 0.1, 0.05]


@cache
def _hourly_input_and_prediction(
    shift_from: int | None, hours: int = 14 * 24, n: int = 500
) -> tuple[tuple[Window, ...], tuple[Window, ...]]:
    """Two weeks of hourly windows: (PSI window, KS window) series from compute_window (cached: pure)."""
    rng = np.random.default_rng(20)
    ref = {"price": rng.normal(0, 1, 5000), "confidence": rng.beta(8, 2, 5000)}
    profile = build_reference(ref, numeric_features=["price"], confidence_field="confidence")
    psi, ks = [], []
    for h in range(hours):
        shifted = shift_from is not None and h >= shift_from
        cur = {
            "price": rng.normal(1.0 if shifted else 0.0, 1, n),
            "confidence": rng.beta(4 if shifted else 8, 2, n),
        }
        res = compute_window(profile, cur)
        start = T0 + h * HOUR
        assert res.prediction_ks is not None
        psi.append(Window(start, start + HOUR, res.features["price"].psi.value, res.n))
        ks.append(Window(start, start + HOUR, res.prediction_ks.statistic, res.n))
    return tuple(psi), tuple(ks)


def _first_active(series: list[Window] | tuple[Window, ...], rule: SustainRule) -> int | None:
    """Index of the first window at which a daemon evaluating after each window would alert."""
    for i in range(len(series)):
        if rule.evaluate(series[: i + 1]).active:
            return i
    return None


def test_rules_from_policy() -> None:
    assert RULES["input"] == SustainRule(0.2, "above", timedelta(hours=24), 200)
    assert RULES["label"] == SustainRule(0.01, "below", timedelta(days=7), 200)
    assert RULES["prediction"] == SustainRule(0.15, "above", timedelta(hours=24), 200)
    assert RULES["concept"] == SustainRule(0.03, "above", timedelta(days=7), 100)


def test_stationary_two_weeks_never_alert() -> None:
    psi, ks = _hourly_input_and_prediction(shift_from=None)
    assert max(w.value for w in psi) < 0.1 and max(w.value for w in ks) < 0.1
    assert _first_active(psi, RULES["input"]) is None
    assert _first_active(ks, RULES["prediction"]) is None


def test_injected_shift_alerts_exactly_after_24_hours() -> None:
    psi, ks = _hourly_input_and_prediction(shift_from=200, hours=240)
    assert min(w.value for w in psi[200:]) > 0.2 and min(w.value for w in ks[200:]) > 0.15
    for series, rule in [(psi, RULES["input"]), (ks, RULES["prediction"])]:
        assert _first_active(series, rule) == 223  # 24 hourly windows 200..223
        before = rule.evaluate(series[:223])  # one window earlier: 23 h
        assert not before.active and before.windows == 23
        now = rule.evaluate(series[:224])
        assert now.active and now.since == T0 + 200 * HOUR and now.windows == 24


def test_small_windows_never_alert() -> None:
    series = [Window(T0 + i * HOUR, T0 + (i + 1) * HOUR, 5.0, 8) for i in range(100)]
    res = RULES["input"].evaluate(series)
    assert not res.active and res.windows == 0 and "n=8" in res.reason


def test_gap_resets_the_run() -> None:
    psi, _ = _hourly_input_and_prediction(shift_from=200, hours=240)
    gapped = psi[:210] + psi[211:]  # hour 210 never computed
    first = _first_active(gapped, RULES["input"])
    assert first is not None and gapped[first].window_start == T0 + 234 * HOUR  # 211..234
    assert RULES["input"].evaluate(gapped[:first]).windows == 23
    # the same blind spot tolerated with max_gap: coverage still counts from hour 200
    assert RULES["input"].evaluate(gapped[:223], max_gap=HOUR).active  # 23 windows span 24 h


def test_small_window_inside_the_run_resets_it() -> None:
    psi = list(_hourly_input_and_prediction(shift_from=200, hours=240)[0])
    psi[215] = psi[215]._replace(n=50)
    first = _first_active(psi, RULES["input"])
    assert first is not None and psi[first].window_start == T0 + 239 * HOUR  # 216..239


def test_five_minute_windows_need_288() -> None:
    five = timedelta(minutes=5)
    series = [Window(T0 + i * five, T0 + (i + 1) * five, 0.3, 400) for i in range(288)]
    assert not RULES["input"].evaluate(series[:287]).active
    assert RULES["input"].evaluate(series).active


def _daily_labels(shift_from: int | None, days: int = 14, n: int = 800) -> tuple[list[Window], list[Window]]:
    """Daily chi-square p-values and delta-F1 of a simulated labelled stream."""
    rng = np.random.default_rng(21)
    ref_labels = rng.choice(CLASSES, size=50_000, p=PRIORS)
    ref_pred = np.where(rng.random(50_000) < 0.9, ref_labels, rng.choice(CLASSES, size=50_000))
    ref_counts = {c: int((ref_labels == c).sum()) for c in CLASSES}
    ref_f1 = concept_delta_f1(0.0, ref_labels.tolist(), ref_pred.tolist(), CLASSES).current_f1
    chi, concept = [], []
    for d in range(days):
        shifted = shift_from is not None and d >= shift_from
        p = [0.3, 0.25, 0.2, 0.15, 0.1] if shifted else PRIORS
        y = rng.choice(CLASSES, size=n, p=p)
        pred = np.where(rng.random(n) < (0.8 if shifted else 0.9), y, rng.choice(CLASSES, size=n))
        start = T0 + d * DAY
        c = label_chi2(ref_counts, {k: int((y == k).sum()) for k in CLASSES})
        chi.append(Window(start, start + DAY, c.p_value, c.n))
        f = concept_delta_f1(ref_f1, y.tolist(), pred.tolist(), CLASSES)
        concept.append(Window(start, start + DAY, f.delta, f.n))
    return chi, concept


def test_stationary_labels_never_alert_over_two_weeks() -> None:
    chi, concept = _daily_labels(shift_from=None)
    assert _first_active(chi, RULES["label"]) is None
    assert _first_active(concept, RULES["concept"]) is None


def test_label_and_concept_shift_alert_after_seven_days() -> None:
    chi, concept = _daily_labels(shift_from=5)
    assert all(w.value < 0.01 for w in chi[5:]) and all(w.value > 0.03 for w in concept[5:])
    assert _first_active(chi, RULES["label"]) == 11  # days 5..11
    assert _first_active(concept, RULES["concept"]) == 11
    res = RULES["label"].evaluate(chi[:11])
    assert not res.active and res.windows == 6


def test_as_of_ignores_unfinished_windows_and_refuses_stale_series() -> None:
    series = [Window(T0 + i * HOUR, T0 + (i + 1) * HOUR, 0.5, 500) for i in range(24)]
    assert RULES["input"].evaluate(series, as_of=T0 + 24 * HOUR, max_staleness=timedelta(minutes=10)).active
    assert not RULES["input"].evaluate(series, as_of=T0 + 23 * HOUR + timedelta(minutes=30)).active
    stale = RULES["input"].evaluate(series, as_of=T0 + 30 * HOUR, max_staleness=HOUR)
    assert not stale.active and stale.reason.startswith("stale")


def test_tuple_input_order_nan_and_validation() -> None:
    rows = [(T0 + i * DAY, T0 + (i + 1) * DAY, 0.05, 150) for i in range(7)]
    res = sustained(
        list(reversed(rows)), threshold=0.03, direction="above", duration=timedelta(days=7), min_samples=100
    )
    assert res.active and res.since == T0 and res.windows == 7
    rows[6] = (rows[6][0], rows[6][1], float("nan"), 150)
    assert not sustained(rows, threshold=0.03, direction="above", duration=7 * DAY, min_samples=100).active
    assert not sustained([], threshold=0.03, direction="above", duration=DAY).active
    with pytest.raises(ValueError, match="overlap"):
        sustained(
            [(T0, T0 + 2 * DAY, 1.0, 500), (T0 + DAY, T0 + 3 * DAY, 1.0, 500)],
            threshold=0.1,
            direction="above",
            duration=DAY,
        )
    with pytest.raises(ValueError, match="end after"):
        sustained([(T0, T0, 1.0, 500)], threshold=0.1, direction="above", duration=DAY)


def test_threshold_is_strict() -> None:
    at = [Window(T0 + i * HOUR, T0 + (i + 1) * HOUR, 0.2, 500) for i in range(24)]
    assert not RULES["input"].evaluate(at).active  # "PSI > 0.2": exactly 0.2 does not count
    below = [w._replace(value=0.01) for w in at]
    assert not RULES["label"].evaluate(below).active  # "p < 0.01"
