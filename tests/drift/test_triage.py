"""Triage (seed 002 section 6.3) as a pure function: each rule, their order, and the safety check."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gatekeeper.drift.triage import SafetyRegression, UpstreamChange, safety_regressions, triage

AT = datetime(2030, 1, 7, tzinfo=UTC)
UPSTREAM = UpstreamChange("embedding", "c0ffee", 3, "promote", AT)
SAFETY = SafetyRegression("escalation", "recall", 0.9, 0.8, 45)


def test_short_drift_without_cause_is_reviewed_not_retrained() -> None:
    got = triage(kind="input", sustained_for=timedelta(hours=26))
    assert got.action == "review" and not got.retrain and not got.page
    assert got.reasons == ("input drift sustained 26 h: review the dashboard; no action queued",)
    assert got.details["sustained_hours"] == 26.0


def test_seasonal_acknowledgement_means_no_action_whatever_else_holds() -> None:
    got = triage(
        kind="label", sustained_for=timedelta(days=9), seasonal=True, upstream=[UPSTREAM], safety=[SAFETY]
    )
    assert got.action == "none" and not got.retrain and not got.page


def test_safety_regression_retrains_now_and_pages_before_any_other_cause() -> None:
    got = triage(kind="concept", sustained_for=timedelta(days=7), upstream=[UPSTREAM], safety=[SAFETY])
    assert (got.action, got.page, got.sev) == ("retrain_now", True, "SEV-3")
    assert got.retrain
    assert got.reasons == (
        "safety-critical slice regressed: escalation recall 0.800 vs reference 0.900 (-0.100, n=45)",
    )


def test_upstream_change_retrains_the_downstream_model() -> None:
    got = triage(kind="input", sustained_for=timedelta(hours=25), upstream=[UPSTREAM])
    assert got.action == "retrain" and not got.page
    assert got.reasons[0] == f"upstream model changed: embedding v3 promote at {AT.isoformat()}"


@pytest.mark.parametrize(
    ("hours", "action"), [(24 * 7 - 1, "review"), (24 * 7, "retrain"), (24 * 12, "retrain")]
)
def test_sustained_a_week_retrains(hours: int, action: str) -> None:
    assert triage(kind="prediction", sustained_for=timedelta(hours=hours)).action == action


def test_kl_at_the_retrain_level_retrains() -> None:
    got = triage(kind="prediction", sustained_for=timedelta(hours=30), kl_retrain=True)
    assert got.action == "retrain" and "KL" in got.reasons[0]


REFERENCE = {
    "escalation": {"recall": 0.90, "f1": 0.88, "support": 800},
    "return_request": {"recall": 0.92, "f1": 0.90, "support": 1200},
    "faq": {"recall": 0.95, "f1": 0.95, "support": 1500},
}


def test_safety_regressions_need_support_and_a_drop_beyond_the_threshold() -> None:
    current = {
        "escalation": {"recall": 0.86, "f1": 0.871, "support": 40},  # recall -0.04 > 0.03; f1 -0.009
        "return_request": {"recall": 0.50, "f1": 0.55, "support": 29},  # big drop, too few examples
        "faq": {"recall": 0.10, "f1": 0.10, "support": 500},  # not safety-critical
    }
    found = safety_regressions(
        REFERENCE, current, classes=["escalation", "return_request"], min_support=30, max_drop=0.03
    )
    assert [(s.cls, s.metric) for s in found] == [("escalation", "recall")]
    assert found[0].drop == pytest.approx(0.04)
    within = {"escalation": {"recall": 0.88, "f1": 0.87, "support": 40}}  # drops of 0.02 and 0.01
    assert safety_regressions(REFERENCE, within, classes=["escalation"], min_support=30, max_drop=0.03) == []


def test_safety_regressions_ignore_missing_and_null_figures() -> None:
    current = {"escalation": {"recall": None, "f1": float("nan"), "support": 50}}
    assert (
        safety_regressions(REFERENCE, current, classes=["escalation", "unknown"], min_support=1, max_drop=0.0)
        == []
    )
