"""Every page rendered by Streamlit's AppTest against the seeded deployment: the numbers on screen are
the API's, filters narrow what is shown, and refusals show the API's own ``detail``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboards import common
from gatekeeper.client import ApiError, Client
from tests.dashboards.conftest import Deployment

pytestmark = pytest.mark.slow

APP = Path(__file__).resolve().parents[2] / "dashboards" / "app.py"
TIMEOUT = 60


def open_app(
    dep: Deployment,
    page: str | None = None,
    *,
    role: str = "reviewer",
    token: str | None = None,
    **params: str,
) -> AppTest:
    """The app as a user with a token of ``role`` sees it, on ``page`` (app_pages/<name>.py)."""
    common.clear_cache()
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.session_state[common.URL_KEY] = dep.url
    at.session_state[common.TOKEN_KEY] = token if token is not None else dep.tokens[role]
    at.query_params.update(params)
    at.run()
    if page:
        at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def frame(at: AppTest, key: str) -> pd.DataFrame:
    """The frame of the table shown in the container with this key (see ``dashboards.common.table``)."""
    value = at.get_by_key(key).dataframe[0].value
    return value.data if hasattr(value, "data") else value  # a Styler wraps its frame


def shown(at: AppTest, key: str) -> bool:
    try:
        at.get_by_key(key)
    except KeyError:
        return False
    return True


def texts(at: AppTest, kind: str) -> str:
    return "\n".join(str(e.value) for e in getattr(at, kind))


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


# --- registry ------------------------------------------------------------------------------------


def test_registry_lists_targets_candidates_champion_and_routing(deployment: Deployment) -> None:
    at = open_app(deployment)
    assert at.title[0].value == "Registry"
    targets = frame(at, "reg_targets").set_index("target")
    api = deployment.client()
    for t in api.get("/v1/targets"):  # TargetRead.champion, one request for every target
        champion = api.get(f"/v1/targets/{t['name']}/champion")
        assert targets.loc[t["name"], "champion"] == f"v{champion['version']}"
        assert (
            targets.loc[t["name"], "champion id"] == champion["id"]
            and targets.loc[t["name"], "task"] == t["task"]
        )
    assert list(targets.index) == ["intent_classifier", "reranker"]
    candidates = frame(at, "reg_candidates")
    listed = api.get("/v1/candidates")["items"]
    assert len(candidates) == len(listed) == 8  # intent: 4 + a canary; reranker: 2 + a canary
    assert list(candidates["version"]) == [c["version"] for c in listed]  # newest first, as the API
    by_id = candidates.set_index("id")
    assert by_id.loc[deployment.ids["champion"], "status"] == "champion"
    assert by_id.loc[deployment.ids["candidate"], "code_revision"] == "3f2c1ab"
    assert (
        by_id.loc[deployment.ids["candidate"], "training run"]
        == f"training?run={deployment.ids['candidate_run']}"
    )
    routes = frame(at, "reg_routes_intent_classifier")
    assert list(routes["role"]) == ["champion"] and routes.loc[0, "weight"] == 1.0
    champion = api.get("/v1/targets/intent_classifier/champion")
    assert metric(at, "intent_classifier champion") == f"v{champion['version']}"


def test_registry_shows_recent_and_queued_evaluations(deployment: Deployment) -> None:
    api = deployment.client()
    at = open_app(deployment)
    recent = frame(at, "reg_evaluations")
    expected = api.get("/v1/evaluations", limit=20)
    assert list(recent["id"]) == [e["id"] for e in expected]  # newest first, across targets
    by_id = recent.set_index("id")
    assert by_id.loc[deployment.ids["waiting_eval"], "status"] == "queued"
    assert by_id.loc[deployment.ids["reranker_candidate_eval"], "verdict"] == "fail"
    assert by_id.loc[deployment.ids["candidate_eval"], "report"] == (
        f"evaluation?evaluation={deployment.ids['candidate_eval']}"
    )
    assert "1 queued or running" in texts(at, "caption")
    at.selectbox(key="reg_ev_status").set_value("queued").run()
    assert list(frame(at, "reg_evaluations")["id"]) == [deployment.ids["waiting_eval"]]
    at.selectbox(key="reg_ev_status").set_value("any").run()
    at.selectbox(key="reg_target").set_value("reranker").run()
    shown = frame(at, "reg_evaluations")
    assert set(shown["target"]) == {"reranker"} and len(shown) == len(
        api.get("/v1/evaluations", target="reranker")
    )
    assert set(shown["candidate"]) == {"v1", "v2"}


def test_sidebar_says_who_is_connected(deployment: Deployment) -> None:
    for role in ("reviewer", "oncall"):
        at = open_app(deployment, role=role)
        me = deployment.client(role).get("/v1/whoami")
        assert f"Connected as **{me['name']}** · role **{me['role']}**" in texts(at, "caption")


def test_registry_filters_by_status_and_target(deployment: Deployment) -> None:
    at = open_app(deployment)
    at.selectbox(key="reg_status").set_value("gate_passed").run()
    shown = frame(at, "reg_candidates")
    expected = deployment.client().get("/v1/candidates", status="gate_passed")["items"]
    assert sorted(shown["id"]) == sorted(c["id"] for c in expected)
    assert set(shown["status"]) <= {"gate_passed"}
    at.selectbox(key="reg_status").set_value("evaluating").run()
    assert list(frame(at, "reg_candidates")["id"]) == [deployment.ids["waiting"]]
    at.selectbox(key="reg_status").set_value("any").run()
    at.selectbox(key="reg_target").set_value("intent_classifier").run()
    expected = deployment.client().get("/v1/candidates", target="intent_classifier")["items"]
    assert list(frame(at, "reg_candidates")["id"]) == [c["id"] for c in expected] and len(expected) == 5


def test_write_action_shows_the_api_refusal(deployment: Deployment) -> None:
    """A reviewer may read everything but not queue an evaluation: the page shows the API's 403 detail."""
    at = open_app(deployment, role="reviewer")
    at.selectbox(key="act_candidate").set_value(deployment.ids["candidate"]).run()
    at.button(key="act_evaluate").click().run()
    errors = texts(at, "error")
    detail = _refusal(
        deployment, "reviewer", "POST", f"/v1/candidates/{deployment.ids['candidate']}/evaluations"
    )
    assert "HTTP 403" in errors and "role reviewer may not do this" in detail and detail in errors
    # An admin may promote, but not a second champion: the API's 409 detail is shown as is.
    admin = open_app(deployment, role="admin")
    admin.selectbox(key="act_candidate").set_value(deployment.ids["candidate"]).run()
    admin.text_input(key="act_reason").input("try to promote past the canary").run()
    admin.button(key="act_promote").click().run()
    detail = _refusal(
        deployment,
        "admin",
        "POST",
        f"/v1/candidates/{deployment.ids['candidate']}/promote",
        json={"reason": "try to promote past the canary"},
    )
    assert f"HTTP 409: {detail}" in texts(admin, "error")
    status = deployment.client().get(f"/v1/candidates/{deployment.ids['candidate']}")["status"]
    assert status in ("gate_passed", "gate_failed", "gate_inconclusive")


def test_bad_token_shows_401_detail(deployment: Deployment) -> None:
    at = open_app(deployment, token="not-a-token")
    errors = texts(at, "error")
    assert "HTTP 401" in errors
    assert _refusal(deployment, None, "GET", "/v1/targets", token="not-a-token") in errors
    assert not shown(at, "reg_candidates")


def _refusal(
    dep: Deployment, role: str | None, method: str, path: str, *, token: str | None = None, **kwargs: Any
) -> str:
    """The API's own ``detail`` for a request it refuses (what the page must show)."""
    client = Client(dep.url, token or dep.tokens[role or "reviewer"])
    with pytest.raises(ApiError) as refused:
        client.request(method, path, **kwargs)
    return refused.value.detail


# --- evaluation report ---------------------------------------------------------------------------


def _report(dep: Deployment) -> AppTest:
    return open_app(dep, "evaluation", evaluation=dep.ids["candidate_eval"])


def test_report_shows_the_decision_and_golden_numbers(deployment: Deployment) -> None:
    ev = deployment.evaluation
    decision, golden = ev["decision"], ev["results"]["golden"]
    at = _report(deployment)
    assert at.selectbox(key="ev_pick").value == deployment.ids["candidate_eval"]
    kind = {"pass": "success", "inconclusive": "info"}.get(decision["verdict"], "error")
    banner = texts(at, kind)
    assert f"Gate {decision['verdict'].upper()}" in banner and decision["summary"] in banner
    shown = texts(at, "error") + texts(at, "warning")
    for reason in decision["hard_failures"] + decision["soft_flags"]:
        assert reason["message"] in shown
    assert metric(at, "Macro-F1") == f"{golden['candidate']['macro_f1']:.4f}"
    assert metric(at, "Accuracy") == f"{golden['candidate']['accuracy']:.4f}"
    assert metric(at, "ECE") == f"{golden['candidate']['ece']:.4f}"
    comparisons = frame(at, "ev_golden_table").set_index("metric")
    for name, c in golden["comparisons"].items():
        assert comparisons.loc[name, "delta"] == pytest.approx(c["delta"])
        assert comparisons.loc[name, "ci low"] == pytest.approx(c["ci_low"])
        assert comparisons.loc[name, "p"] == pytest.approx(c["p_value"])
    per_class = frame(at, "ev_per_class").set_index("class")
    for label, m in golden["candidate"]["per_class"].items():
        assert (
            per_class.loc[label, "f1"] == pytest.approx(m["f1"])
            and per_class.loc[label, "support"] == m["support"]
        )
    checks = frame(at, "ev_checks")
    assert len(checks) == len(decision["checks"])
    assert len(at.get("vega_lite_chart")) >= 5  # deltas, confusion, reliability, slices, adversarial
    labels = [d.label for d in at.get("download_button")]
    assert labels == ["Download MD report", "Download HTML report", "Download JSON report"]


def test_report_slices_are_sorted_flagged_and_drill_down(deployment: Deployment) -> None:
    ev = deployment.evaluation
    rows = ev["results"]["slices"]["rows"]
    at = _report(deployment)
    table = frame(at, "ev_slices")
    assert len(table) == len(rows)
    judged = table[table["support"] == "judged"]
    assert list(judged.index) == list(range(len(judged)))  # judged slices first
    assert list(judged["delta"]) == sorted(judged["delta"])
    assert judged["delta"].iloc[0] == min(r["delta"] for r in rows if not r["insufficient_data"])
    flagged = {
        r["slice"]: r["severity"]
        for r in ev["decision"]["hard_failures"] + ev["decision"]["soft_flags"]
        if r["check"] == "slice"
    }
    assert dict(zip(table["slice"], table["flag"], strict=True)) == {
        r["slice"]: flagged.get(r["slice"], "") for r in rows
    }
    insufficient = {r["slice"] for r in rows if r["insufficient_data"]}
    assert set(table.loc[table["support"] == "insufficient data", "slice"]) == insufficient
    at.selectbox(key="ev_slice_pick").set_value("lang=ja").run()
    examples = frame(at, "ev_slice_examples")
    expected = next(r["n"] for r in rows if r["slice"] == "lang=ja")
    assert f"{expected} examples in lang=ja" in texts(at, "caption")
    assert set(examples["lang"]) == {"ja"} and len(examples) == min(expected, 100)


def test_report_adversarial_replay_and_correlation(deployment: Deployment) -> None:
    results = deployment.evaluation["results"]
    at = _report(deployment)
    adv = frame(at, "ev_adv_types").set_index("perturbation")
    assert adv.loc["overall", "candidate error"] == pytest.approx(
        results["adversarial"]["overall"]["candidate_error"]
    )
    for part in results["adversarial"]["by_type"]:
        assert adv.loc[part["perturbation"], "n"] == part["n"]
    assert len(frame(at, "ev_adv_flips")) == len(results["adversarial"]["flips"])
    assert metric(at, "Logged sessions") == str(results["replay"]["n_sessions"])
    pairs = frame(at, "ev_corr_pairs")
    assert list(pairs["candidate"]) == [deployment.ids["champion"]] and pairs.loc[0, "online"] == 0.83


def test_example_browser_filters(deployment: Deployment) -> None:
    api, eid = deployment.client(), deployment.ids["candidate_eval"]
    at = _report(deployment)
    assert f"{api.get(f'/v1/evaluations/{eid}/examples')['total']} matching examples" in texts(at, "caption")
    at.selectbox(key="ex_lang").set_value("ja").run()
    at.selectbox(key="ex_label").set_value("escalation").run()
    shown = frame(at, "ex_table")
    expected = api.get(f"/v1/evaluations/{eid}/examples", lang="ja", label="escalation")
    assert list(shown["id"]) == [i["id"] for i in expected["items"]]
    assert set(shown["lang"]) <= {"ja"} and set(shown["label"]) <= {"escalation"}
    at.selectbox(key="ex_label").set_value("any").run()
    at.checkbox(key="ex_disagree").check().run()
    at.slider(key="ex_conf").set_value((0.0, 0.6)).run()
    shown = frame(at, "ex_table")
    expected = api.get(f"/v1/evaluations/{eid}/examples", lang="ja", disagree="true", max_confidence=0.6)
    assert f"{expected['total']} matching examples" in texts(at, "caption")
    assert shown["disagree"].all() and (shown["candidate conf"] <= 0.6).all()
    assert (shown["candidate"] != shown["champion"]).all()


def test_report_of_a_queued_and_an_errored_evaluation(deployment: Deployment) -> None:
    waiting = open_app(deployment, "evaluation", evaluation=deployment.ids["waiting_eval"])
    assert "Evaluation is **queued**" in texts(waiting, "info") and shown(waiting, "ev_refresh")
    assert not shown(waiting, "ev_golden_table")
    broken = open_app(deployment, "evaluation", evaluation=deployment.ids["broken_eval"])
    error = deployment.client().get(f"/v1/evaluations/{deployment.ids['broken_eval']}")["error"]
    assert error and error in texts(broken, "error")


def test_report_pickers_follow_target_and_candidate(deployment: Deployment) -> None:
    at = open_app(deployment, "evaluation", candidate=deployment.ids["champion"])
    assert at.selectbox(key="ev_candidate").value == deployment.ids["champion"]
    assert at.selectbox(key="ev_pick").value == deployment.ids["champion_eval"]
    assert metric(at, "Champion") == "none (first model)"
    comparisons = frame(at, "ev_golden_table")
    assert comparisons["champion"].isna().all() and comparisons["ci low"].notna().all()
    at.selectbox(key="ev_candidate").set_value(deployment.ids["candidate"]).run()
    assert at.selectbox(key="ev_pick").value == deployment.ids["candidate_eval"]


# --- training runs, audit, canary ----------------------------------------------------------------


def test_training_runs_page(deployment: Deployment) -> None:
    at = open_app(deployment, "training")
    runs = deployment.client().get("/v1/training-runs")
    table = frame(at, "tr_table").set_index("id")
    assert len(table) == len(runs) == 2
    candidate = deployment.client().get(f"/v1/candidates/{deployment.ids['candidate']}")
    run = table.loc[deployment.ids["candidate_run"]]
    assert run["candidate"] == f"v{candidate['version']}" and run["log path"] == "logs/candidate.log"
    source = next(r for r in runs if r["id"] == deployment.ids["candidate_run"])
    assert run["macro_f1"] == pytest.approx(source["metrics"]["final"]["macro_f1"])
    at.selectbox(key="tr_run").set_value(deployment.ids["candidate_run"]).run()
    assert metric(at, "Registered as") == f"v{candidate['version']}"
    assert len(at.get("vega_lite_chart")) == 2  # quality and loss per epoch
    linked = open_app(deployment, "training", run=deployment.ids["champion_run"])  # the registry's link
    assert linked.selectbox(key="tr_run").value == deployment.ids["champion_run"]
    assert (
        metric(linked, "Macro-F1 (validation)")
        == f"{table.loc[deployment.ids['champion_run'], 'macro_f1']:.4f}"
    )


def test_audit_page_filters_and_pages(deployment: Deployment) -> None:
    api = deployment.client()
    at = open_app(deployment, "audit")
    at.selectbox(key="au_size").set_value(25).run()
    first = frame(at, "au_table")
    newest = api.get("/v1/audit", limit=25)
    assert len(newest) == 25 and len(api.get("/v1/audit", limit=1000)) > 25  # there is an older page
    assert list(first["id"]) == [e["id"] for e in newest]
    at.button(key="au_older").click().run()
    second = frame(at, "au_table")
    assert list(second["id"]) == [e["id"] for e in api.get("/v1/audit", limit=25, before_id=newest[-1]["id"])]
    at.button(key="au_newer").click().run()
    assert list(frame(at, "au_table")["id"]) == list(first["id"])
    at.text_input(key="au_entity").input(deployment.ids["candidate"]).run()
    at.text_input(key="au_actor").input("system").run()
    filtered = frame(at, "au_table")
    expected = api.get("/v1/audit", entity=deployment.ids["candidate"], actor="system", limit=25)
    assert list(filtered["id"]) == [e["id"] for e in expected] and len(expected) > 0
    assert set(filtered["actor"]) == {"system"} and set(filtered["entity"]) == {deployment.ids["candidate"]}


# --- backtest ------------------------------------------------------------------------------------


def test_backtest_page_runs_simulated_canaries_and_shows_the_tables(deployment: Deployment) -> None:
    at = open_app(deployment, "backtest")
    at.text_input(key="bt_simulate").set_value("healthy:2, error_ratio=4.0:2")
    at.number_input(key="bt_days").set_value(1.0)
    at.button(key="bt_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    healthy = frame(at, "bt_healthy").set_index("view")
    assert healthy.loc["policy", "streams"] == "2"
    detection = frame(at, "bt_detection")
    assert set(detection["regression"]) == {"error_ratio=4"} and "policy" in set(detection["view"])
    at.text_input(key="bt_simulate").set_value("sometimes:3")
    at.button(key="bt_run").click().run()
    assert "--simulate 'sometimes:3'" in texts(at, "error")
