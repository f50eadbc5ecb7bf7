"""The five-mode gate for the reranker: a cross-encoder trained by Gatekeeper (recorded run, registered
output) gated as the first model, then a submitted-scores candidate against it; NDCG, slices,
adversarial flips and IPS/SNIPS replay."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalsets.manifest import read_jsonl
from gatekeeper.evaluation import cache, runner
from gatekeeper.jobs.handlers import install
from gatekeeper.jobs.worker import Worker
from gatekeeper.registry.artifacts import file_sha256
from tests.conftest import ROOT, TAGS
from tests.gate.conftest import adversarial_of, write_cut

pytestmark = pytest.mark.slow
SHIPPED = ROOT / "evalsets" / "reranker"
RANK_TAGS = {**TAGS, "model_target": "reranker"}


@pytest.fixture
def db(sqlite_db):  # noqa: ANN001, ANN201 - ranking metrics are the point here, not engines
    return sqlite_db


@pytest.fixture(scope="module")
def mini_reranker_evalset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    golden = read_jsonl(SHIPPED / "golden.jsonl")[:20]
    holdout = read_jsonl(SHIPPED / "holdout.jsonl")[:40]
    sets = {
        "golden.jsonl": golden,
        "holdout.jsonl": holdout,
        "adversarial.jsonl": adversarial_of(SHIPPED, golden + holdout, 10),
        "clicks.jsonl": read_jsonl(SHIPPED / "clicks.jsonl")[:60],
        "train.jsonl": read_jsonl(SHIPPED / "train.jsonl")[:40],
        "validation.jsonl": read_jsonl(SHIPPED / "validation.jsonl")[:12],
    }
    return write_cut(tmp_path_factory.mktemp("rankset"), SHIPPED, sets, ("products.jsonl",))


def test_reranker_trained_registered_and_gated(api, auth, db, settings, mini_reranker_evalset) -> None:
    policy = (
        (ROOT / "policies" / "reranker.yaml")
        .read_text()
        .replace("evalset_dir: evalsets/reranker", f"evalset_dir: {mini_reranker_evalset}")
        .replace("floors: {ndcg@10: 0.55}", "floors: {ndcg@10: 0.30}")
        .replace("latency_p95_ms: 400", "latency_p95_ms: 60000\n  latency_samples: 20")
    )
    assert (
        api.post(
            "/v1/targets",
            json={"name": "reranker", "task": "ranking", "policy": policy},
            headers=auth("admin"),
        ).status_code
        == 201
    )
    install()
    worker = Worker(db, settings, echo=lambda _: None)
    queued = api.post(
        "/v1/training-runs",
        headers=auth("ci"),
        json={
            "trainer": "reranker",
            "tags": RANK_TAGS,
            "register": True,
            "config": {
                "data_dir": str(mini_reranker_evalset),
                "epochs": 1,
                "probe_queries": 20,
                "num_threads": 1,
                "max_length": 48,  # the pipeline is under test, not long-text ranking: half the CPU
            },
        },
    )
    assert queued.status_code == 202, queued.text
    assert worker.run_once()
    run = api.get(f"/v1/training-runs/{queued.json()['id']}", headers=auth("ci")).json()
    assert run["status"] == "succeeded", run["error"]
    first_id = run["candidate_ids"][0]

    evaluation = api.post(f"/v1/candidates/{first_id}/evaluations", json={}, headers=auth("ci")).json()
    assert worker.run_once()
    first = api.get(f"/v1/evaluations/{evaluation['id']}", headers=auth("ci")).json()
    assert first["status"] == "done", first["error"]
    golden = first["results"]["golden"]["candidate"]
    assert 0.0 < golden["ndcg@10"] <= 1.0 and golden["n"] == 20
    assert first["decision"]["verdict"] == "pass", first["decision"]["hard_failures"]
    assert first["results"]["replay"]["counterfactual"]["ips"]["n"] == 60
    sha = api.get(f"/v1/candidates/{first_id}", headers=auth("ci")).json()["artifact_sha256"]
    timed = cache.cached_payload(db, sha, f"{runner.LATENCY_KEY}:20")  # the policy's latency_samples
    assert timed is not None and len(timed["samples_ms"]) == 20
    api.post(f"/v1/candidates/{first_id}/promote", json={"reason": "first reranker"}, headers=auth("admin"))

    # an "oracle" ranker that runs elsewhere: scores are the judged relevance
    oracle = settings.artifact_root / "oracle.jsonl"
    with oracle.open("w") as fh:
        for name in ("golden.jsonl", "holdout.jsonl", "adversarial.jsonl", "clicks.jsonl"):
            for row in read_jsonl(mini_reranker_evalset / name):
                scores = (
                    {c["doc_id"]: float(c["relevance"]) for c in row["candidates"]}
                    if row["candidates"] and isinstance(row["candidates"][0], dict)
                    else {d: 0.0 for d in row["candidates"]}
                )
                fh.write(json.dumps({"id": row["id"], "scores": scores}) + "\n")
    (settings.artifact_root / "oracle-model").mkdir()
    (settings.artifact_root / "oracle-model" / "model.safetensors").write_bytes(b"external")
    from gatekeeper.registry.artifacts import artifact_sha256

    cand = api.post(
        "/v1/candidates",
        headers=auth("ci"),
        json={
            "target": "reranker",
            "artifact_uri": "oracle-model",
            "artifact_sha256": artifact_sha256(settings.artifact_root / "oracle-model"),
            "tags": RANK_TAGS,
        },
    ).json()
    queued = api.post(
        f"/v1/candidates/{cand['id']}/evaluations",
        headers=auth("ci"),
        json={"predictions_uri": "oracle.jsonl", "predictions_sha256": file_sha256(oracle)},
    ).json()
    assert worker.run_once()
    result = api.get(f"/v1/evaluations/{queued['id']}", headers=auth("ci")).json()
    assert result["status"] == "done", result["error"]
    comparisons = result["results"]["golden"]["comparisons"]
    assert comparisons["ndcg@10"]["candidate"] == pytest.approx(1.0)
    assert comparisons["ndcg@10"]["delta"] > 0 and comparisons["ndcg@10"]["ci_low"] > 0
    assert {r["slice"] for r in result["results"]["slices"]["rows"]} >= {"lang=en", "lang=ja"}
    assert result["results"]["adversarial"]["overall"]["n"] == 10
    assert result["decision"]["verdict"] == "pass", result["decision"]["hard_failures"]
