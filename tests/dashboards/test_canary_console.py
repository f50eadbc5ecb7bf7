"""The canary console against canaries the real daemon aborted: the trigger and its figures as the API
stored them, the re-enable form (409 with the baseline figures for a real regression, success for a
holdout anomaly, force for admins only), manual abort and rollback for on-call, 403 for a reviewer."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from gatekeeper.canary import service as canaries
from gatekeeper.client import ApiError
from tests.dashboards.conftest import Deployment
from tests.dashboards.test_pages import frame, metric, open_app, texts

pytestmark = pytest.mark.slow


def console(dep: Deployment, which: str, role: str = "oncall"):  # noqa: ANN201 - AppTest
    return open_app(dep, "canary", role=role, canary=dep.ids[f"{which}_canary"])


def refusal(dep: Deployment, role: str, path: str, body: dict) -> dict:
    """What the API answers a refused POST (nothing changes): its status, detail and figures."""
    with pytest.raises(ApiError) as refused:
        dep.client(role).post(path, body)
    return {"status": refused.value.status, **refused.value.body}


def test_console_shows_the_trigger_and_its_figures(deployment: Deployment) -> None:
    api = deployment.client()
    canary = api.get(f"/v1/canaries/{deployment.ids['regression_canary']}")
    trigger = canary["trigger"]
    at = console(deployment, "regression", role="reviewer")
    assert at.selectbox(key="ca_target").value == "intent_classifier"
    assert at.selectbox(key="ca_pick").value == canary["id"]
    assert metric(at, "State") == "aborted" and metric(at, "Traffic share now") == "0%"
    assert metric(at, "Stage") == f"1 of {len(canary['plan'])}"
    shown = texts(at, "error")
    decision = next(
        d
        for d in api.get(f"/v1/candidates/{canary['candidate_id']}/decisions")
        if d["verdict"] == "abort" and d["details"]["canary_id"] == canary["id"]
    )
    assert trigger["rule"] == "error_rate" and "**error_rate**" in shown
    assert decision["reasons"][0]["message"] in shown  # the daemon's own sentence, with its figures
    threshold = trigger["figures"]["threshold"]
    assert (
        f"above {threshold['error_ratio']:g}× the holdout's for more than {threshold['error_minutes']:g} min"
        in shown
    )
    table = frame(at, "ca_trigger_windows")
    stored = trigger["figures"]["windows"]
    assert len(table) == len(stored) == len(trigger["window_starts"])
    for row, window in zip(table.to_dict("records"), stored, strict=True):
        assert row["start"] == pd.Timestamp(window["start"])
        assert row["canary_errors"] == window["canary_errors"] and row["ratio"] == pytest.approx(
            window["ratio"]
        )
        assert row["p_value"] == pytest.approx(window["p_value"])
    stages = frame(at, "ca_stages")
    assert list(stages["share"]) == [s["share"] for s in canary["plan"]]
    assert list(stages["status"]) == ["paused (aborted)", "planned", "planned"]
    routes = frame(at, "ca_routes")
    assert list(routes["role"]) == ["champion"] and routes.loc[0, "weight"] == 1.0  # rolled back on abort
    assert len(at.get("vega_lite_chart")) >= 4  # timeline, error rate, p99, the safety metric
    daemon = api.get("/v1/daemon")
    assert f"leader `{daemon['leader']}`" in texts(at, "caption") + texts(at, "warning")
    assert "you are reviewer (reviewer): the API will refuse" in texts(at, "caption")
    assert not [c for c in at.checkbox if c.key == "ca_force"]  # force is for admins only
    assert at.radio(key="ca_range").value == "around the trigger (±3 h)"
    at.radio(key="ca_range").set_value("whole canary").run()
    assert not at.exception


def test_reenable_of_a_real_regression_shows_the_409_and_the_baseline(fresh_deployment: Deployment) -> None:
    dep = fresh_deployment
    path = f"/v1/canaries/{dep.ids['regression_canary']}/reenable"
    at = console(dep, "regression")
    at.button(key="ca_reenable").click().run()  # no reason: nothing is sent
    assert "Give a reason" in texts(at, "warning")
    assert dep.client().get("/v1/audit", action="canary.reenable") == []
    expected = refusal(dep, "oncall", path, {"reason": "looks like noise to me", "force": False})
    assert expected["status"] == 409 and expected["rule"] == "error_rate"
    at.text_area(key="ca_reenable_reason").input("looks like noise to me").run()
    at.button(key="ca_reenable").click().run()
    assert f"Re-enable refused (HTTP 409): {expected['detail']}" in texts(at, "error")
    baseline = frame(at, "ca_recheck_baseline").set_index("figure")["value"]
    for key in ("rate", "threshold_rate", "requests", "windows"):
        assert baseline[key] == pytest.approx(expected["figures"]["baseline"][key])
    windows = frame(at, "ca_recheck_windows")
    assert list(windows["breach"]) == [w["breach"] for w in expected["figures"]["windows"]]
    assert list(windows["canary_rate"]) == pytest.approx(
        [w["canary_rate"] for w in expected["figures"]["windows"]]
    )
    assert dep.client().get(f"/v1/canaries/{dep.ids['regression_canary']}")["state"] == "aborted"


def test_reenable_after_a_holdout_anomaly_resumes_the_canary(fresh_deployment: Deployment) -> None:
    dep = fresh_deployment
    at = console(dep, "anomaly")
    assert at.selectbox(key="ca_target").value == "reranker"
    at.text_area(key="ca_reenable_reason").input(
        "holdout error rate collapsed: the holdout was the anomaly"
    ).run()
    at.button(key="ca_reenable").click().run()
    assert not at.exception
    after = dep.client().get(f"/v1/canaries/{dep.ids['anomaly_canary']}")
    assert after["state"] == "running" and after["reenables"] == 1
    success = texts(at, "success")
    assert "Re-enabled: the canary is **running** again" in success
    assert f"armed since {after['armed_since'][:16].replace('T', ' ')} UTC" in success
    assert metric(at, "State") == "running" and metric(at, "Traffic share now") == f"{after['share']:.0%}"
    audit = dep.client().get("/v1/audit", action="canary.reenable")
    assert audit[0]["actor"] == "oncall" and audit[0]["after"]["recheck"]["fires"] is False


def test_force_is_for_admins_and_overrides_the_baseline_check(fresh_deployment: Deployment) -> None:
    dep = fresh_deployment
    at = console(dep, "regression", role="admin")
    at.text_area(key="ca_reenable_reason").input("known bad holdout host").run()
    at.checkbox(key="ca_force").check().run()
    at.button(key="ca_reenable").click().run()
    assert "Re-enabled: the canary is **running** again" in texts(at, "success")
    audit = dep.client().get("/v1/audit", action="canary.reenable_override")
    assert audit[0]["actor"] == "admin" and audit[0]["note"] == "known bad holdout host"


def test_abort_and_rollback_are_refused_to_a_reviewer(fresh_deployment: Deployment) -> None:
    dep = fresh_deployment
    body = {"reason": "I should not be able to"}
    at = console(dep, "regression", role="reviewer")
    at.text_input(key="ca_abort_reason").input(body["reason"]).run()
    at.button(key="ca_abort").click().run()
    detail = refusal(dep, "reviewer", f"/v1/canaries/{dep.ids['regression_canary']}/abort", body)["detail"]
    assert "role reviewer may not do this" in detail and f"abort: HTTP 403: {detail}" in texts(at, "error")
    at.text_input(key="ca_rollback_reason").input(body["reason"]).run()
    at.button(key="ca_rollback").click().run()
    detail = refusal(dep, "reviewer", "/v1/targets/intent_classifier/rollback", body)["detail"]
    assert f"rollback: HTTP 403: {detail}" in texts(at, "error")
    assert dep.client().get(f"/v1/canaries/{dep.ids['regression_canary']}")["state"] == "aborted"


def test_oncall_aborts_for_good_and_rollback_needs_a_previous_champion(fresh_deployment: Deployment) -> None:
    dep = fresh_deployment
    at = console(dep, "regression")
    at.text_input(key="ca_abort_reason").input("error rate regression confirmed").run()
    at.button(key="ca_abort").click().run()
    assert "Aborted: the canary is **failed**" in texts(at, "success")
    assert metric(at, "State") == "failed"
    assert (
        dep.client().get(f"/v1/candidates/{dep.ids['regression_candidate']}")["status"] == "failed_promotion"
    )
    # The intent router's champion is its first: the API refuses, and the page says why.
    at.text_input(key="ca_rollback_reason").input("roll back the router").run()
    at.button(key="ca_rollback").click().run()
    assert "no previous champion to roll back to" in texts(at, "error")


def test_rollback_restores_the_previous_champion(fresh_deployment: Deployment) -> None:
    """The reranker's canary is re-enabled and completes its stages (the service, as the daemon would at
    the end of the last stage); on-call then rolls the new champion back from the console."""
    dep = fresh_deployment
    dep.client("oncall").post(
        f"/v1/canaries/{dep.ids['anomaly_canary']}/reenable", {"reason": "holdout anomaly"}
    )
    assert dep.db is not None
    with dep.db.transaction() as session:
        canary = canaries.get(session, dep.ids["anomaly_canary"], lock=True)
        canaries.promote(session, canary, actor="test", at=datetime.now(UTC))
    first = dep.ids["reranker_champion"]
    assert dep.client().get("/v1/targets/reranker")["champion"]["id"] == dep.ids["anomaly_candidate"]
    at = console(dep, "anomaly")
    assert metric(at, "State") == "baking"  # the previous champion is kept warm for the bake
    at.text_input(key="ca_rollback_reason").input("ctr dropped after the promotion").run()
    at.button(key="ca_rollback").click().run()
    champion = dep.client().get("/v1/targets/reranker")["champion"]
    assert champion["id"] == first
    assert f"v{champion['version']} is champion again" in texts(at, "success")
    rolled = dep.client().get(f"/v1/candidates/{dep.ids['anomaly_candidate']}")
    assert rolled["status"] == "failed_promotion" and f"v{rolled['version']} is failed_promotion" in texts(
        at, "success"
    )
