"""From a folder outside the artifact root to a champion: upload over HTTP, register the digest, gate,
promote. Once into the local store and once into a bucket on a local S3 server."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from gatekeeper.api.app import create_app
from gatekeeper.jobs.handlers import install
from gatekeeper.jobs.worker import Worker
from gatekeeper.registry.artifacts import artifact_sha256
from tests.artifacts.conftest import gate_body, upload_folder
from tests.conftest import TAGS, snapshot


def _gate_and_promote(api, auth, worker, artifact_uri: str, digest: str) -> dict:  # noqa: ANN001
    body = {
        "target": "intent_classifier",
        "artifact_uri": artifact_uri,
        "artifact_sha256": digest,
        "tags": TAGS,
    }
    registered = api.post("/v1/candidates", json=body, headers=auth("ci"))
    assert registered.status_code == 201, registered.text
    cid = registered.json()["id"]
    queued = api.post(f"/v1/candidates/{cid}/evaluations", json={}, headers=auth("ci"))
    assert queued.status_code == 202, queued.text
    assert worker.run_once()
    result = api.get(f"/v1/evaluations/{queued.json()['id']}", headers=auth("ci")).json()
    assert result["status"] == "done", result["error"]
    assert result["decision"]["verdict"] == "pass", result["decision"]
    promoted = api.post(f"/v1/candidates/{cid}/promote", json={"reason": "uploaded"}, headers=auth("admin"))
    assert promoted.status_code == 200, promoted.text
    return promoted.json()


@pytest.mark.parametrize("store", ["local", "s3"])
def test_upload_register_gate_promote(
    request,
    db,
    settings,
    tokens,
    auth,
    tiny_intent_model,
    small_evalset,
    store,  # noqa: ANN001
) -> None:
    active = request.getfixturevalue("s3_settings") if store == "s3" else settings
    active = active.model_copy(update={"bootstrap_resamples": 100})
    install()
    worker = Worker(db, active, echo=lambda _: None)
    with TestClient(create_app(active, db), raise_server_exceptions=False) as api:
        body = gate_body(small_evalset, floor=0.0)
        assert api.post("/v1/targets", json=body, headers=auth("admin")).status_code == 201
        response, digest = upload_folder(api, tiny_intent_model, auth("ci"))
        assert response.status_code == 201, response.text
        stored_locally = (settings.artifact_root / "sha256" / digest).exists()
        assert stored_locally is (store == "local")
        champion = _gate_and_promote(api, auth, worker, f"sha256:{digest}", digest)
    assert champion["status"] == "champion" and champion["artifact_uri"] == f"sha256:{digest}"


def test_s3_uris_are_fetched_verified_and_refused_clearly(
    api,
    auth,
    db,
    settings,
    target,
    s3_url,
    s3_settings,
    tiny_intent_model,  # noqa: ANN001
) -> None:
    import s3fs

    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_url}, skip_instance_cache=True)
    bucket = s3_settings.artifact_store.removeprefix("s3://").split("/")[0]
    fs.put(str(tiny_intent_model), f"{bucket}/models/v1", recursive=True)
    digest = artifact_sha256(tiny_intent_model)
    api.app.state.settings = s3_settings
    body = {"target": "intent_classifier", "artifact_sha256": digest, "tags": TAGS}
    before = snapshot(db)
    for uri, status, says in [
        ("s3://no-such-bucket-gk/models/v1", 422, "bucket 'no-such-bucket-gk' does not exist"),
        (f"s3://{bucket}/models/missing", 422, f"no artifact at s3://{bucket}/models/missing"),
        (f"s3://{bucket}/models/v1/config.json", 422, "artifact_sha256 mismatch"),
        (f"s3://{bucket}", 422, "s3://bucket/key"),
    ]:
        refused = api.post("/v1/candidates", json=body | {"artifact_uri": uri}, headers=auth("ci"))
        assert refused.status_code == status and says in refused.json()["detail"], (uri, refused.text)
        assert refused.json()["field"] in ("artifact_uri", "artifact_sha256")
    assert snapshot(db) == before
    assert not [p for p in (settings.artifact_root / ".cache" / "s3").glob("*") if p.name != digest]
    ok = api.post(
        "/v1/candidates", json=body | {"artifact_uri": f"s3://{bucket}/models/v1"}, headers=auth("ci")
    )
    assert ok.status_code == 201, ok.text
    copy = settings.artifact_root / ".cache" / "s3" / digest
    assert artifact_sha256(copy) == digest  # the verified local copy models load from


def test_upload_into_a_missing_bucket_is_503_naming_the_store(api, auth, db, s3_settings, tmp_path) -> None:
    api.app.state.settings = s3_settings.model_copy(update={"artifact_store": "s3://no-such-bucket-gk/x"})
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text("{}")
    before = snapshot(db)
    response, _ = upload_folder(api, tmp_path / "m", auth("ci"))
    assert response.status_code == 503 and response.json()["field"] == "artifact_store", response.text
    assert snapshot(db) == before
