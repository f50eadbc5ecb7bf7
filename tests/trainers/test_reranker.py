"""The reranker trainer and predictor: data sampling, losses, a real small fine-tune, safe reload."""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from evalsets.manifest import read_jsonl, write_jsonl
from gatekeeper.errors import ValidationFailed
from gatekeeper.evaluation.metrics.ranking import ndcg_at_k, ranking_report
from gatekeeper.registry.artifacts import artifact_sha256, pickled_files
from trainers.reranker.config import RerankerTrainConfig, default_data_dir
from trainers.reranker.data import Query, load_queries, queries_from_rows, sample_groups
from trainers.reranker.predict import RerankerPredictor
from trainers.reranker.train import _group_loss, _group_sizes, train_reranker

os.environ.setdefault("HF_HUB_OFFLINE", "1")

TAGS = {
    "model_target": "reranker",
    "code_revision": "test",
    "data_snapshot_id": "evalsets/reranker@2026.11.0",
    "label_version": "1",
    "feature_schema_version": "1",
    "seed": "5",
}


def test_sample_groups_keep_a_top_graded_candidate() -> None:
    queries = [
        Query(f"q{i}", f"text {i}", tuple((f"d{j}", 3 if j == i else 0) for j in range(20)))
        for i in range(10)
    ]
    groups = sample_groups(queries, 5, random.Random(0))
    assert len(groups) == 10
    for group in groups:
        assert len(group) == 5 and len({doc for _, doc, _ in group}) == 5
        assert max(rel for _, _, rel in group) == 3
    assert groups == sample_groups(queries, 5, random.Random(0))


def test_queries_from_rows_refuse_bad_rows() -> None:
    good = {"id": "q", "query": "berserk vol 3", "candidates": [{"doc_id": "p1", "relevance": 3}]}
    assert queries_from_rows([good], "x")[0].candidates == (("p1", 3),)
    with pytest.raises(ValueError, match="needs a 'query'"):
        queries_from_rows([{**good, "query": " "}], "x")
    with pytest.raises(ValueError, match="outside 0-3"):
        queries_from_rows([{**good, "candidates": [{"doc_id": "p1", "relevance": 4}]}], "x")


def test_losses_by_hand() -> None:
    logits = torch.tensor([0.0, 2.0, -1.0, 0.5])
    rel = torch.tensor([3.0, 0.0, 1.0, 0.0])
    # pointwise BCE against relevance / 3
    targets = rel / 3
    p = torch.sigmoid(logits)
    bce = -(targets * torch.log(p) + (1 - targets) * torch.log(1 - p)).mean()
    assert float(_group_loss(logits, rel, [4], "bce")) == pytest.approx(float(bce), rel=1e-5)
    # listnet over two groups [0, 2] and [-1, 0.5]: gains 7,0 -> target (1, 0); gains 1,0 -> (1, 0)
    g1 = -torch.log_softmax(torch.tensor([0.0, 2.0]), 0)[0]
    g2 = -torch.log_softmax(torch.tensor([-1.0, 0.5]), 0)[0]
    assert float(_group_loss(logits, rel, [2, 2], "listnet")) == pytest.approx(float((g1 + g2) / 2), rel=1e-5)
    assert _group_sizes([("a", "d1", 0), ("a", "d2", 1), ("b", "d3", 0)]) == [2, 1]


def _small_data(tmp: Path, n_train: int, n_val: int) -> Path:
    """A copy of the shipped sets cut to a few queries, so the fine-tune fits the test budget."""
    src, out = default_data_dir(), tmp / "data"
    out.mkdir()
    shutil.copy(src / "products.jsonl", out / "products.jsonl")
    write_jsonl(out / "train.jsonl", read_jsonl(src / "train.jsonl")[:n_train])
    write_jsonl(out / "validation.jsonl", read_jsonl(src / "validation.jsonl")[:n_val])
    return out


def _random_ndcg(queries: list[Query], draws: int = 200) -> float:
    rng = np.random.default_rng(0)
    per_query = []
    for q in queries:
        grades = np.array([r for _, r in q.candidates])
        per_query.append(np.mean([ndcg_at_k(rng.permutation(grades), 10, grades) for _ in range(draws)]))
    return float(np.mean(per_query))


@pytest.mark.slow
def test_small_finetune_beats_random_and_reloads_identically(tmp_path: Path) -> None:
    data = _small_data(tmp_path, n_train=40, n_val=16)
    config = RerankerTrainConfig(
        output_dir=tmp_path / "model",
        data_dir=data,
        epochs=1,
        batch_size=16,
        candidates_per_query=8,
        max_length=64,
        seed=5,
        tags=TAGS,
        run_id="rr_test",
        progress=False,
        log_every=5,
        probe_queries=24,
    )
    lines: list[str] = []
    result = train_reranker(config, log=lines.append)

    val = load_queries(data / "validation.jsonl")
    random_ndcg = _random_ndcg(val)
    trained = result.final_metrics["ndcg@10"]
    assert trained > random_ndcg + 0.1, (trained, random_ndcg)
    # epoch 0 is the linear probe; the fine-tuned epoch 1 must rank well too, not just the probe
    by_epoch = {row["epoch"]: row["ndcg@10"] for row in result.epochs}
    assert set(by_epoch) == {0, 1} and by_epoch[1] > random_ndcg + 0.1, (by_epoch, random_ndcg)

    out = result.output_dir
    assert pickled_files(out) == []
    assert {"model.safetensors", "config.json", "tokenizer.json", "metrics.json", "model_card.md"} <= {
        p.name for p in out.iterdir()
    }
    assert result.artifact_sha256 == artifact_sha256(out)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["tags"] == TAGS and metrics["best"]["ndcg@10"] == pytest.approx(trained)
    card = (out / "model_card.md").read_text()
    assert "evalsets/reranker@2026.11.0" in card and "ndcg@10" in card
    assert any(line.startswith("[PROBE] run_id=rr_test queries=24 ") for line in lines)
    assert any(line.startswith("[TRAIN] run_id=rr_test epoch=1 step=") for line in lines)
    assert any(line.startswith("[VAL] run_id=rr_test epoch=1 ndcg@10=") for line in lines)

    # Reload from safetensors: the same validation scores the trainer measured, and stable across loads.
    products = {r["doc_id"]: r for r in read_jsonl(data / "products.jsonl")}
    rows = read_jsonl(data / "validation.jsonl")
    predictor = RerankerPredictor.load(out)
    assert predictor.max_length == 64
    scores = predictor.score_queries(rows, products)
    assert ranking_report(rows, scores)["means"]["ndcg@10"] == pytest.approx(trained, abs=1e-9)
    again = RerankerPredictor.load(out).score_queries(rows[:3], products)
    assert again == predictor.score_queries(rows[:3], products)
    # score() keeps input order whatever the length-sorted batching does
    pairs = [(rows[0]["query"], products[c["doc_id"]]["text"]) for c in rows[0]["candidates"]]
    one_by_one = np.array([predictor.score([pair])[0] for pair in pairs[:5]])
    np.testing.assert_allclose(predictor.score(pairs, batch_size=3)[:5], one_by_one, rtol=1e-4, atol=1e-5)
    # click-log rows carry plain doc-id lists
    clicks = [
        {"id": "c1", "query": rows[0]["query"], "candidates": [c["doc_id"] for c in rows[0]["candidates"]]}
    ]
    # (batches differ from the full run, so padding may move the last float bits)
    assert predictor.score_queries(clicks, products)["c1"] == pytest.approx(
        scores[rows[0]["id"]], rel=1e-4, abs=1e-4
    )


def test_predictor_refuses_pickles_and_missing_weights(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    with pytest.raises(ValidationFailed, match="no model.safetensors"):
        RerankerPredictor.load(folder)
    (folder / "pytorch_model.bin").write_bytes(b"not really a pickle")
    with pytest.raises(ValidationFailed, match="pickle"):
        RerankerPredictor.load(folder)
    with pytest.raises(ValidationFailed, match="not found"):
        RerankerPredictor.load(tmp_path / "absent")
