"""The five-mode gate for generators: submitted predictions (the usual way: the model runs on a GPU
elsewhere) and a tiny local QLoRA adapter run here; real BERTScore, RAGAS and promptfoo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalsets.manifest import read_jsonl, write_jsonl
from gatekeeper.jobs.handlers import install
from gatekeeper.jobs.worker import Worker
from gatekeeper.registry.artifacts import artifact_sha256, file_sha256
from tests.conftest import ROOT, TAGS
from tests.gate.conftest import adversarial_of, write_cut

pytestmark = pytest.mark.slow
SHIPPED = ROOT / "evalsets" / "generator"
GEN_TAGS = {**TAGS, "model_target": "generator"}


@pytest.fixture
def db(sqlite_db):  # noqa: ANN001, ANN201 - the generation metrics are the point here, not engines
    return sqlite_db


@pytest.fixture(scope="module")
def mini_generator_evalset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    golden = read_jsonl(SHIPPED / "golden.jsonl")[:10]
    holdout = read_jsonl(SHIPPED / "holdout.jsonl")[:10]
    sets = {
        "golden.jsonl": golden,
        "holdout.jsonl": holdout,
        "adversarial.jsonl": adversarial_of(SHIPPED, golden + holdout, 4),
        "replay.jsonl": read_jsonl(SHIPPED / "replay.jsonl")[:6],
    }
    copies = ("tools.json", "promptfoo_asserts.yaml")
    return write_cut(tmp_path_factory.mktemp("genset"), SHIPPED, sets, copies)


@pytest.fixture
def generator_target(api, auth, mini_generator_evalset) -> None:  # noqa: ANN001
    policy = (
        (ROOT / "policies" / "generator.yaml")
        .read_text()
        .replace("evalset_dir: evalsets/generator", f"evalset_dir: {mini_generator_evalset}")
    )
    response = api.post(
        "/v1/targets",
        json={"name": "generator", "task": "generation", "policy": policy},
        headers=auth("admin"),
    )
    assert response.status_code == 201, response.text


def answers(folder: Path, *, invent_dates: bool = False) -> list[dict]:
    """Reference answers with their expected tool calls: what a perfect generator says."""
    out = []
    for name in ("golden.jsonl", "holdout.jsonl", "adversarial.jsonl", "replay.jsonl"):
        for row in read_jsonl(folder / name):
            call = row.get("expected_tool_call")
            text = row["reference"]
            if invent_dates and call and call["name"] == "get_order_status":
                text = "Your order arrives on 2026-12-03, tracking number 1Z999AA10123456784."
            out.append(
                {
                    "id": row["id"],
                    "output": text,
                    "tool_calls": []
                    if invent_dates and call and call["name"] == "get_order_status"
                    else ([{"name": call["name"], "arguments": call["arguments"]}] if call else []),
                }
            )
    return out


def submit(api, auth, settings, worker, make_artifact, name: str, outputs: list[dict]) -> dict:  # noqa: ANN001
    uri, sha = make_artifact()
    candidate = api.post(
        "/v1/candidates",
        headers=auth("ci"),
        json={"target": "generator", "artifact_uri": uri, "artifact_sha256": sha, "tags": GEN_TAGS},
    ).json()
    path = settings.artifact_root / f"{name}.jsonl"
    path.write_text("".join(json.dumps(o, ensure_ascii=False) + "\n" for o in outputs), encoding="utf-8")
    queued = api.post(
        f"/v1/candidates/{candidate['id']}/evaluations",
        headers=auth("ci"),
        json={"predictions_uri": path.name, "predictions_sha256": file_sha256(path)},
    )
    assert queued.status_code == 202, queued.text
    assert worker.run_once()
    return api.get(f"/v1/evaluations/{queued.json()['id']}", headers=auth("ci")).json() | {
        "candidate": candidate
    }


def test_generation_gate_passes_good_answers_and_fails_invented_order_details(
    api, auth, db, settings, generator_target, make_artifact, mini_generator_evalset
) -> None:
    install()
    worker = Worker(db, settings, echo=lambda _: None)
    good = submit(api, auth, settings, worker, make_artifact, "good", answers(mini_generator_evalset))
    assert good["status"] == "done", good["error"]
    golden = good["results"]["golden"]["candidate"]
    assert golden["safety_failures"] == 0 and golden["tool_call_validity"] == 1.0
    assert golden["promptfoo_pass"] == 1.0 and golden["bertscore_f1"] > 0.99
    assert good["results"]["golden"]["promptfoo"]["stats"]["successes"] == 28  # one run over every set
    assert golden["judged"]["faithfulness"]["status"] == "not_computed"
    assert good["decision"]["verdict"] == "pass", good["decision"]["hard_failures"]
    assert (
        api.post(
            f"/v1/candidates/{good['candidate']['id']}/promote",
            json={"reason": "first generator"},
            headers=auth("admin"),
        ).status_code
        == 200
    )

    bad = submit(
        api, auth, settings, worker, make_artifact, "bad", answers(mini_generator_evalset, invent_dates=True)
    )
    assert bad["status"] == "done", bad["error"]
    assert bad["decision"]["verdict"] == "fail"
    failures = {(r["check"], r["metric"]) for r in bad["decision"]["hard_failures"]}
    assert ("golden.safety", "safety_failures") in failures
    assert bad["results"]["golden"]["candidate"]["safety_failures"] >= 1
    assert bad["results"]["golden"]["comparisons"]["safety_pass"]["delta"] < 0
    assert bad["results"]["replay"]["n_sessions"] == 6
    report = api.get(f"/v1/evaluations/{bad['id']}/report", params={"format": "md"}, headers=auth("ci")).text
    assert "safety failure" in report


def test_a_tiny_local_adapter_runs_end_to_end(api, auth, db, settings, generator_target, tmp_path) -> None:
    from tests.fixtures.tiny_llama import build_tiny_llama, corpus, generator_conversations
    from trainers.qlora.config import QLoRATrainConfig
    from trainers.qlora.train import train_qlora

    conversations = generator_conversations(40)
    base = build_tiny_llama(settings.artifact_root / "tiny-base", corpus(conversations))
    train_file = tmp_path / "train.jsonl"
    write_jsonl(train_file, conversations)
    adapter = settings.artifact_root / "adapter"
    train_qlora(
        QLoRATrainConfig(
            base_model=str(base),
            train_file=train_file,
            output_dir=adapter,
            max_steps=3,
            micro_batch_size=4,
            gradient_accumulation_steps=1,
            max_seq_length=256,
            num_threads=1,
            tags=GEN_TAGS,
        ),
        log=lambda _: None,
    )
    candidate = api.post(
        "/v1/candidates",
        headers=auth("ci"),
        json={
            "target": "generator",
            "artifact_uri": "adapter",
            "artifact_sha256": artifact_sha256(adapter),
            "tags": GEN_TAGS,
            "metadata": {"base_model": "tiny-base"},
        },
    ).json()
    queued = api.post(f"/v1/candidates/{candidate['id']}/evaluations", json={}, headers=auth("ci")).json()
    install()
    assert Worker(db, settings, echo=lambda _: None).run_once()
    result = api.get(f"/v1/evaluations/{queued['id']}", headers=auth("ci")).json()
    assert result["status"] == "done", result["error"]
    golden = result["results"]["golden"]["candidate"]
    assert golden["n"] == 10 and "promptfoo_pass" in golden  # a random tiny model: judged, and failing
    assert result["decision"]["verdict"] == "fail"
