from __future__ import annotations


def test_healthz_reports_database(api) -> None:
    assert api.get("/healthz").json() == {"status": "ok", "database": "ok"}


def test_metrics_are_prometheus_text_with_registry_gauges(api, auth, register) -> None:
    register()
    api.get("/v1/targets", headers=auth("reviewer"))
    body = api.get("/metrics").text
    assert 'gatekeeper_candidates{status="registered",target="intent_classifier"} 1.0' in body
    assert 'gatekeeper_http_requests_total{method="GET",route="/v1/targets",status="200"}' in body


def test_openapi_documents_every_route(api) -> None:
    spec = api.get("/openapi.json").json()
    assert "/v1/candidates" in spec["paths"]
    assert api.get("/docs").status_code == 200


def test_unknown_route_is_json_404(api) -> None:
    response = api.get("/v1/nope")
    assert response.status_code == 404
    assert "detail" in response.json()


def test_routing_for_a_target_without_champion_is_empty(api, auth, target) -> None:
    data = api.get("/v1/targets/intent_classifier/routing", headers=auth("ci")).json()
    assert data == {"target": "intent_classifier", "generation": 0, "routes": []}


def test_first_champion_promotion_and_routing(api, auth, register, db) -> None:
    from gatekeeper.registry import service as registry
    from gatekeeper.registry.states import Status

    cid = register()["id"]
    refused = api.post(f"/v1/candidates/{cid}/promote", json={"reason": "first model"}, headers=auth("admin"))
    assert refused.status_code == 409
    assert refused.json()["current_status"] == "registered"
    with db.transaction() as session:
        cand = registry.get_candidate(session, cid, lock=True)
        registry.transition(session, cand, Status.EVALUATING, actor="t")
        registry.transition(session, cand, Status.GATE_PASSED, actor="t")
    ok = api.post(f"/v1/candidates/{cid}/promote", json={"reason": "first model"}, headers=auth("admin"))
    assert ok.status_code == 200 and ok.json()["status"] == "champion"
    routing = api.get("/v1/targets/intent_classifier/routing", headers=auth("reviewer")).json()
    assert [(r["candidate_id"], r["role"], r["weight"]) for r in routing["routes"]] == [
        (cid, "champion", 1.0)
    ]
    assert routing["generation"] == 1
    assert api.get("/v1/targets/intent_classifier/champion", headers=auth("ci")).json()["id"] == cid
    decisions = api.get(f"/v1/candidates/{cid}/decisions", headers=auth("ci")).json()
    assert [(d["stage"], d["verdict"], d["actor"]) for d in decisions] == [("full", "promote", "admin")]


def test_target_policy_validation_names_the_field(api, auth) -> None:
    bad = (
        "target: intent_classifier\ntask: classification\n"
        "canary: {stages: [{share: 0.5, days: 1}, {share: 0.1, days: 1}]}\n"
    )
    response = api.post(
        "/v1/targets",
        json={"name": "intent_classifier", "task": "classification", "policy": bad},
        headers=auth("admin"),
    )
    assert response.status_code == 422
    assert response.json()["field"].startswith("policy.canary")
    typo = "target: intent_classifier\ntask: classification\ngoldn: {}\n"
    response = api.post(
        "/v1/targets",
        json={"name": "intent_classifier", "task": "classification", "policy": typo},
        headers=auth("admin"),
    )
    assert response.status_code == 422 and "goldn" in response.json()["detail"]
    mismatch = "target: reranker\ntask: classification\n"
    response = api.post(
        "/v1/targets",
        json={"name": "intent_classifier", "task": "classification", "policy": mismatch},
        headers=auth("admin"),
    )
    assert response.status_code == 422 and response.json()["field"] == "policy.target"


def test_policy_update_pins_a_new_version(api, auth, target) -> None:
    from tests.conftest import POLICY_FILE

    text = POLICY_FILE.read_text().replace("ceiling: 0.02", "ceiling: 0.03")
    response = api.put("/v1/targets/intent_classifier/policy", json={"policy": text}, headers=auth("admin"))
    assert response.status_code == 200
    assert response.json()["policy_version"] == 2
    assert response.json()["policy"]["adversarial"]["ceiling"] == 0.03
    audit = api.get("/v1/audit", params={"action": "target.policy_update"}, headers=auth("ci")).json()
    assert audit[0]["before"] == {"policy_version": 1} and audit[0]["after"] == {"policy_version": 2}


def test_duplicate_target_is_409(api, auth, target) -> None:
    from tests.conftest import POLICY_FILE

    body = {"name": "intent_classifier", "task": "classification", "policy": POLICY_FILE.read_text()}
    assert api.post("/v1/targets", json=body, headers=auth("admin")).status_code == 409


def test_training_run_record_refuses_anonymous_runs(api, auth, target, db) -> None:
    from tests.conftest import TAGS, snapshot

    before = snapshot(db)
    response = api.post(
        "/v1/training-runs",
        json={
            "trainer": "intent",
            "target": "intent_classifier",
            "tags": {"model_target": "intent_classifier"},
        },
        headers=auth("ci"),
    )
    assert response.status_code == 422
    assert response.json()["missing_tags"] == [
        "code_revision",
        "data_snapshot_id",
        "label_version",
        "feature_schema_version",
        "seed",
    ]
    assert snapshot(db) == before
    ok = api.post(
        "/v1/training-runs",
        json={"trainer": "intent", "tags": TAGS, "metrics": {"macro_f1": 0.9}},
        headers=auth("ci"),
    )
    assert ok.status_code == 201 and ok.json()["target"] == "intent_classifier"


def test_whoami_and_target_champion(api, auth, target) -> None:
    assert api.get("/v1/whoami", headers=auth("oncall")).json() == {"name": "oncall", "role": "oncall"}
    assert api.get("/v1/targets/intent_classifier", headers=auth("ci")).json()["champion"] is None


def test_training_run_lists_its_candidates_and_filters(api, auth, target, make_artifact) -> None:
    from tests.conftest import TAGS

    run = api.post("/v1/training-runs", json={"trainer": "intent", "tags": TAGS}, headers=auth("ci")).json()
    uri, sha = make_artifact()
    cand = api.post(
        "/v1/candidates",
        headers=auth("ci"),
        json={
            "target": "intent_classifier",
            "artifact_uri": uri,
            "artifact_sha256": sha,
            "tags": TAGS,
            "training_run_id": run["id"],
        },
    ).json()
    assert api.get(f"/v1/training-runs/{run['id']}", headers=auth("ci")).json()["candidate_ids"] == [
        cand["id"]
    ]
    assert len(api.get("/v1/training-runs", params={"status": "succeeded"}, headers=auth("ci")).json()) == 1
    assert api.get("/v1/training-runs", params={"trainer": "qlora"}, headers=auth("ci")).json() == []
    assert api.get("/v1/evaluations", headers=auth("ci")).json() == []
