"""Registration over HTTP on both engines, including every kind of bad input the issue names."""

from __future__ import annotations

import json

import pytest

from tests.conftest import TAGS, snapshot


def body(uri: str, sha: str, **overrides):  # noqa: ANN001, ANN201
    data = {"target": "intent_classifier", "artifact_uri": uri, "artifact_sha256": sha, "tags": dict(TAGS)}
    data.update(overrides)
    return data


def test_register_assigns_versions_and_records_lineage(api, auth, make_artifact, target) -> None:
    first = api.post("/v1/candidates", json=body(*make_artifact()), headers=auth("ci"))
    second = api.post("/v1/candidates", json=body(*make_artifact()), headers=auth("ci"))
    assert (first.status_code, second.status_code) == (201, 201)
    assert [first.json()["version"], second.json()["version"]] == [1, 2]
    shown = api.get(f"/v1/candidates/{first.json()['id']}", headers=auth("reviewer")).json()
    assert shown["tags"] == TAGS
    assert shown["status"] == "registered"
    assert shown["submitter"] == "ci"
    audit = api.get("/v1/audit", params={"entity": shown["id"]}, headers=auth("reviewer")).json()
    assert [e["action"] for e in audit] == ["candidate.register"]


def test_same_artifact_is_idempotent(api, auth, make_artifact, target, db) -> None:
    uri, sha = make_artifact()
    created = api.post("/v1/candidates", json=body(uri, sha), headers=auth("ci"))
    again = api.post("/v1/candidates", json=body(uri, sha), headers=auth("ci"))
    assert (created.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == created.json()["id"]
    assert len(api.get("/v1/candidates", headers=auth("ci")).json()["items"]) == 1


def test_numeric_seed_is_accepted_as_a_tag(api, auth, make_artifact, target) -> None:
    tags = {**TAGS, "seed": 7}
    response = api.post("/v1/candidates", json=body(*make_artifact(), tags=tags), headers=auth("ci"))
    assert response.status_code == 201
    assert response.json()["tags"]["seed"] == "7"


@pytest.mark.parametrize(
    ("mutate", "missing"),
    [
        (lambda t: t.pop("seed"), ["seed"]),
        (lambda t: t.update(code_revision="  "), ["code_revision"]),
        (
            lambda t: (t.pop("label_version"), t.update(data_snapshot_id="")),
            ["data_snapshot_id", "label_version"],
        ),
        (lambda t: t.clear(), list(TAGS)),
    ],
)
def test_missing_or_empty_tags_are_listed(api, auth, make_artifact, target, db, mutate, missing) -> None:
    tags = dict(TAGS)
    mutate(tags)
    before = snapshot(db)
    response = api.post("/v1/candidates", json=body(*make_artifact(), tags=tags), headers=auth("ci"))
    assert response.status_code == 422
    assert response.json()["missing_tags"] == missing
    assert snapshot(db) == before


def test_model_target_must_equal_the_target(api, auth, make_artifact, target, db) -> None:
    before = snapshot(db)
    tags = {**TAGS, "model_target": "reranker"}
    response = api.post("/v1/candidates", json=body(*make_artifact(), tags=tags), headers=auth("ci"))
    assert response.status_code == 422
    assert response.json()["field"] == "tags.model_target"
    assert snapshot(db) == before


def test_unknown_target_is_404(api, auth, make_artifact, target, db) -> None:
    before = snapshot(db)
    tags = {**TAGS, "model_target": "nope"}
    response = api.post(
        "/v1/candidates", json=body(*make_artifact(), target="nope", tags=tags), headers=auth("ci")
    )
    assert response.status_code == 404
    assert "nope" in response.json()["detail"]
    assert snapshot(db) == before


def test_sha_mismatch_says_expected_and_actual(api, auth, make_artifact, target, db) -> None:
    uri, sha = make_artifact()
    wrong = "0" * 64
    before = snapshot(db)
    response = api.post("/v1/candidates", json=body(uri, wrong), headers=auth("ci"))
    assert response.status_code == 422
    data = response.json()
    assert (data["expected"], data["actual"]) == (wrong, sha)
    assert f"expected {wrong}, actual {sha}" in data["detail"]
    assert snapshot(db) == before


@pytest.mark.parametrize("uri", ["../escape", "a/../../escape", "/etc", "file:///etc"])
def test_paths_escaping_the_root_are_refused(api, auth, target, db, uri, settings) -> None:
    (settings.artifact_root.parent / "escape").mkdir(exist_ok=True)
    before = snapshot(db)
    response = api.post("/v1/candidates", json=body(uri, "a" * 64), headers=auth("ci"))
    assert response.status_code == 422
    assert "escapes the artifact root" in response.json()["detail"]
    assert snapshot(db) == before


@pytest.mark.parametrize("weights", ["pytorch_model.bin", "model.pt", "model.pkl", "epoch=3.ckpt"])
def test_pickled_weights_are_refused(api, auth, target, db, settings, weights) -> None:
    from gatekeeper.registry.artifacts import artifact_sha256

    folder = settings.artifact_root / "pickled"
    folder.mkdir()
    (folder / weights).write_bytes(b"\x80\x04K\x01.")
    before = snapshot(db)
    response = api.post("/v1/candidates", json=body("pickled", artifact_sha256(folder)), headers=auth("ci"))
    assert response.status_code == 422
    assert response.json()["pickled_files"] == [weights]
    assert snapshot(db) == before


def test_missing_artifact_is_422(api, auth, target, db) -> None:
    response = api.post("/v1/candidates", json=body("not-there", "a" * 64), headers=auth("ci"))
    assert response.status_code == 422
    assert "not found" in response.json()["detail"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (b'{"target": "intent_classifier", "artifact_uri": ', "body"),
        (
            json.dumps(
                {"target": "intent_classifier", "artifact_uri": "x", "artifact_sha256": 5, "tags": {}}
            ),
            "artifact_sha256",
        ),
        (
            json.dumps(
                {"target": "intent_classifier", "artifact_uri": "x", "artifact_sha256": "a" * 64, "tags": []}
            ),
            "tags",
        ),
        (json.dumps({"artifact_uri": "x", "artifact_sha256": "a" * 64}), "target"),
        (
            json.dumps({"target": "intent_classifier", "artifact_uri": "x", "artifact_sha256": "A" * 64}),
            "artifact_sha256",
        ),
        (
            json.dumps(
                {"target": "intent_classifier", "artifact_uri": "x", "artifact_sha256": "a" * 64, "bogus": 1}
            ),
            "bogus",
        ),
    ],
)
def test_malformed_bodies_are_4xx_naming_the_field(api, auth, target, db, payload, field) -> None:
    before = snapshot(db)
    response = api.post(
        "/v1/candidates", content=payload, headers={**auth("ci"), "content-type": "application/json"}
    )
    assert response.status_code == 422
    data = response.json()
    assert isinstance(data["detail"], str)
    assert any(e["field"].startswith(field) for e in data["errors"]), data
    assert snapshot(db) == before


def test_oversized_body_is_413(api, auth, target, db, settings) -> None:
    huge = json.dumps(
        {"target": "intent_classifier", "metadata": {"x": "y" * (settings.max_body_bytes + 10)}}
    )
    before = snapshot(db)
    response = api.post(
        "/v1/candidates", content=huge, headers={**auth("ci"), "content-type": "application/json"}
    )
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]
    assert snapshot(db) == before


def test_unknown_training_run_is_refused(api, auth, make_artifact, target, db) -> None:
    before = snapshot(db)
    response = api.post(
        "/v1/candidates",
        json=body(*make_artifact(), training_run_id="7" * 8 + "-1111-2222-3333-" + "4" * 12),
        headers=auth("ci"),
    )
    assert response.status_code == 422
    assert response.json()["field"] == "training_run_id"
    assert snapshot(db) == before


def test_list_filters_and_paginates_without_gaps(api, auth, register) -> None:
    ids = [register()["id"] for _ in range(7)]
    seen, cursor = [], None
    while True:
        page = api.get(
            "/v1/candidates",
            params={"limit": 3, **({"cursor": cursor} if cursor else {})},
            headers=auth("reviewer"),
        ).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(ids))
    assert api.get("/v1/candidates", params={"status": "champion"}, headers=auth("ci")).json()["items"] == []
    assert api.get("/v1/candidates", params={"status": "nonsense"}, headers=auth("ci")).status_code == 422
    assert api.get("/v1/candidates", params={"cursor": "%%%"}, headers=auth("ci")).status_code == 422
    assert api.get("/v1/candidates", params={"limit": 0}, headers=auth("ci")).status_code == 422


def test_unknown_candidate_is_404(api, auth, target) -> None:
    assert api.get("/v1/candidates/not-a-uuid", headers=auth("ci")).status_code == 404
    assert (
        api.get("/v1/candidates/00000000-0000-0000-0000-000000000000", headers=auth("ci")).status_code == 404
    )
