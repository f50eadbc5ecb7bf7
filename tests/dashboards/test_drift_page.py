"""The drift page against a week of drift the real daemon judged: latest figures and pinned thresholds,
the four kinds charted, events with their triage, the acknowledgement form (on-call only) and the
Evidently report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from gatekeeper.client import ApiError
from tests.dashboards.conftest import Deployment
from tests.dashboards.test_pages import frame, open_app, texts

pytestmark = [
    pytest.mark.slow,
    # Evidently's import (the report) pulls in numpy.core aliases and litestar, which warn about themselves.
    pytest.mark.filterwarnings("ignore:numpy.core is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:Call to deprecated function 'Dependency':DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:Use of deprecated class 'DependencyKwarg':DeprecationWarning"),
]
TARGET = "intent_classifier"


def test_drift_page_shows_the_kinds_against_their_thresholds(deployment: Deployment) -> None:
    api = deployment.client()
    since = (datetime.now(UTC) - timedelta(days=7)).date().isoformat() + "T00:00:00+00:00"
    view = api.get(f"/v1/targets/{TARGET}/drift", since=since)
    at = open_app(deployment, "drift")
    assert at.selectbox(key="dr_target").value == TARGET
    latest = frame(at, "dr_latest").set_index("kind")
    pinned = view["reference"]["thresholds"]
    for kind, key in (
        ("input", "psi"),
        ("prediction", "prediction_ks"),
        ("label", "label_chi2_p"),
        ("concept", "concept_delta_f1"),
    ):
        assert latest.loc[kind, "threshold"] == pinned[key]
        stored = view["latest"][kind]
        assert latest.loc[kind, "value"] == pytest.approx(stored["value"])
        assert bool(latest.loc[kind, "breached"]) == stored["breached"]
    assert latest.loc["input", "breached"] and latest.loc["concept", "breached"]  # the two seeded shifts
    metrics = {m.label: m for m in at.metric}
    assert metrics["input · max PSI"].value == f"{view['latest']['input']['value']:.4g}"
    assert "beyond threshold (above 0.2)" in metrics["input · max PSI"].delta
    # PSI per feature, KS, KL (with its bands), the label p-value and concept ΔF1: one chart each.
    assert len(at.get("vega_lite_chart")) == 5
    assert f"windows under {pinned['min_samples']:.0f} samples" in texts(at, "caption")


def test_events_show_their_triage(deployment: Deployment) -> None:
    api = deployment.client()
    live = api.get(f"/v1/targets/{TARGET}/drift/events", status="live")
    at = open_app(deployment, "drift")
    events = frame(at, "dr_events")
    assert sorted(events["id"]) == sorted(e["id"] for e in live) == sorted(deployment.drift["opened"])
    assert set(events["kind"]) == {"input", "concept"}
    by_id = events.set_index("id")
    for e in live:
        row = by_id.loc[e["id"]]
        assert row["action"] == e["action"] and row["why"] == "; ".join(e["reasons"])
        assert row["retrain note"] == e["retrain_note"] and row["since"] == pd.Timestamp(e["since"])
        assert (pd.notna(row["paged"])) == (e["paged_at"] is not None)
    concept = next(e for e in live if e["kind"] == "concept")
    assert concept["action"] == "retrain_now" and any("escalation" in r for r in concept["reasons"])
    at.selectbox(key="dr_event_pick").set_value(concept["id"]).run()
    assert f"**Suggested action: {concept['action']}**" in texts(at, "markdown")
    assert concept["retrain_note"] in texts(at, "caption")
    at.selectbox(key="dr_status").set_value("resolved").run()
    assert "no resolved drift events" in texts(at, "caption")


def test_acknowledge_is_for_oncall_and_seasonal_suppresses_until(fresh_deployment: Deployment) -> None:
    dep = fresh_deployment
    event = next(e for e in dep.client().get(f"/v1/targets/{TARGET}/drift/events") if e["kind"] == "input")
    reviewer = open_app(dep, "drift", role="reviewer")
    reviewer.selectbox(key="dr_ack_event").set_value(event["id"]).run()
    reviewer.text_input(key="dr_ack_reason").input("manga fair weekend").run()
    reviewer.button(key="dr_ack").click().run()
    with pytest.raises(ApiError) as refused:
        dep.client("reviewer").post(f"/v1/drift-events/{event['id']}/ack", {"reason": "manga fair weekend"})
    assert f"acknowledge: HTTP 403: {refused.value.detail}" in texts(reviewer, "error")

    at = open_app(dep, "drift", role="oncall")
    at.selectbox(key="dr_ack_event").set_value(event["id"]).run()
    at.text_input(key="dr_ack_reason").input("manga fair weekend: Japanese traffic spikes").run()
    at.checkbox(key="dr_ack_seasonal").check().run()
    until = (datetime.now(UTC) + timedelta(days=2)).date()
    at.date_input(key="dr_ack_until_day").set_value(until).run()
    at.button(key="dr_ack").click().run()
    assert not at.exception
    done = dep.client().get(f"/v1/drift-events/{event['id']}")
    assert done["status"] == "acknowledged" and done["action"] == "none"
    assert done["ack"]["by"] == "oncall" and done["ack"]["seasonal"] is True
    assert pd.Timestamp(done["ack"]["until"]) == pd.Timestamp(f"{until}T00:00:00Z")
    success = texts(at, "success")
    assert "Acknowledged by oncall: the input event is **acknowledged**, action none" in success
    assert f"suppressed until {until} 00:00 UTC" in success
    assert frame(at, "dr_events").set_index("id").loc[event["id"], "acknowledged by"] == "oncall"


def test_evidently_report_downloads(deployment: Deployment) -> None:
    at = open_app(deployment, "drift")
    at.button(key="dr_report").click().run()
    assert not at.exception
    [download] = [d for d in at.get("download_button") if d.proto.label.startswith("Download the report")]
    html = deployment.client().get(f"/v1/targets/{TARGET}/drift/report")
    assert f"({len(html.encode()) / 1e6:.1f} MB)" in download.proto.label and "<html" in html.lower()
    at.checkbox(key="dr_report_embed").check().run()  # embedded in an iframe
    assert not at.exception
