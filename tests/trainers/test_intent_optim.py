"""Discriminative learning rates eta_l = eta_base * 0.8^(L - l) and the warmup/decay schedule."""

from __future__ import annotations

import pytest
import torch
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    DistilBertConfig,
    DistilBertForSequenceClassification,
)

from trainers.intent.optim import encoder_depth, param_groups, warmup_linear_schedule

BASE = 2e-5


def group_of(groups: list[dict], name: str) -> dict:
    matches = [g for g in groups if name in g["param_names"]]
    assert len(matches) == 1, f"{name} is in {len(matches)} groups"
    return matches[0]


def assert_partition(model: torch.nn.Module, groups: list[dict]) -> None:
    grouped = [id(p) for g in groups for p in g["params"]]
    assert len(grouped) == len(set(grouped)), "a parameter appears in two groups"
    assert set(grouped) == {id(p) for p in model.parameters()}, "a parameter is missing from the groups"


@pytest.fixture(scope="module")
def tiny_bert() -> BertForSequenceClassification:
    config = BertConfig(
        vocab_size=100,
        hidden_size=32,
        num_hidden_layers=3,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        num_labels=4,
    )
    return BertForSequenceClassification(config)


@pytest.fixture(scope="module")
def tiny_distilbert() -> DistilBertForSequenceClassification:
    config = DistilBertConfig(vocab_size=30522, dim=32, n_layers=2, n_heads=2, hidden_dim=64, num_labels=4)
    return DistilBertForSequenceClassification(config)


def expected_bert_lr(name: str) -> float:
    # L = 3: embeddings l=0 -> 0.8^3, layer.0 l=1 -> 0.8^2, layer.1 -> 0.8, layer.2 -> 1, pooler/head -> 1
    table = {
        "bert.embeddings.": 0.512,
        "bert.encoder.layer.0.": 0.64,
        "bert.encoder.layer.1.": 0.8,
        "bert.encoder.layer.2.": 1.0,
        "bert.pooler.": 1.0,
        "classifier.": 1.0,
    }
    (factor,) = [f for prefix, f in table.items() if name.startswith(prefix)]
    return BASE * factor


def expected_distilbert_lr(name: str) -> float:
    # L = 2: embeddings 0.8^2, transformer.layer.0 -> 0.8, transformer.layer.1 -> 1, pre_classifier/head -> 1
    table = {
        "distilbert.embeddings.": 0.64,
        "distilbert.transformer.layer.0.": 0.8,
        "distilbert.transformer.layer.1.": 1.0,
        "pre_classifier.": 1.0,
        "classifier.": 1.0,
    }
    (factor,) = [f for prefix, f in table.items() if name.startswith(prefix)]
    return BASE * factor


@pytest.mark.parametrize(
    ("fixture", "expected", "depth"),
    [("tiny_bert", expected_bert_lr, 3), ("tiny_distilbert", expected_distilbert_lr, 2)],
)
def test_every_parameter_gets_its_layer_rate(
    request: pytest.FixtureRequest, fixture: str, expected, depth: int
) -> None:
    model = request.getfixturevalue(fixture)
    assert encoder_depth(model) == depth
    groups = param_groups(model, BASE, 0.8)
    assert_partition(model, groups)
    for name, _ in model.named_parameters():
        assert group_of(groups, name)["lr"] == pytest.approx(expected(name), rel=1e-12), name


@pytest.mark.parametrize("fixture", ["tiny_bert", "tiny_distilbert"])
def test_no_weight_decay_on_bias_and_layernorm(request: pytest.FixtureRequest, fixture: str) -> None:
    model = request.getfixturevalue(fixture)
    groups = param_groups(model, BASE, 0.8, weight_decay=0.01)
    norm_params = {
        f"{m}.{p}"
        for m, mod in model.named_modules()
        if isinstance(mod, torch.nn.LayerNorm)
        for p, _ in mod.named_parameters(recurse=False)
    }
    assert norm_params, "the tiny model has LayerNorms"
    for name, _ in model.named_parameters():
        decay = group_of(groups, name)["weight_decay"]
        if name.endswith(".bias") or name in norm_params:
            assert decay == 0.0, name
        else:
            assert decay == 0.01, name


def test_distilbert_layer_norm_names_are_recognised(
    tiny_distilbert: DistilBertForSequenceClassification,
) -> None:
    groups = param_groups(tiny_distilbert, BASE, 0.8)
    for name in (
        "distilbert.transformer.layer.0.sa_layer_norm.weight",
        "distilbert.transformer.layer.1.output_layer_norm.weight",
        "distilbert.embeddings.LayerNorm.weight",
    ):
        assert group_of(groups, name)["weight_decay"] == 0.0


def test_groups_drive_adamw_and_decay_one_means_a_single_rate(
    tiny_bert: BertForSequenceClassification,
) -> None:
    groups = param_groups(tiny_bert, 1e-3, 1.0)
    assert {g["lr"] for g in groups} == {1e-3}
    optimizer = torch.optim.AdamW(param_groups(tiny_bert, BASE, 0.8), lr=BASE)
    assert min(g["lr"] for g in optimizer.param_groups) == pytest.approx(BASE * 0.8**3)
    with pytest.raises(ValueError):
        param_groups(tiny_bert, BASE, 0.0)


def test_model_without_blocks_is_refused() -> None:
    with pytest.raises(ValueError, match="no encoder blocks"):
        param_groups(torch.nn.Linear(3, 2), BASE, 0.8)


def lr_trace(warmup: int, total: int, base: float = 1.0) -> list[float]:
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=base)
    scheduler = warmup_linear_schedule(optimizer, warmup, total)
    trace = []
    for _ in range(total):
        trace.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return trace


def test_schedule_warms_up_then_decays_linearly() -> None:
    # warmup 2 of 6: 1/2, 2/2, then (6-s)/(6-2) for s = 2..5
    assert lr_trace(2, 6) == pytest.approx([0.5, 1.0, 1.0, 0.75, 0.5, 0.25])


def test_one_step_run_still_moves_the_weights() -> None:
    assert lr_trace(1, 1) == pytest.approx([1.0])
    assert lr_trace(0, 4) == pytest.approx([1.0, 0.75, 0.5, 0.25])


def test_schedule_scales_every_group_by_the_same_factor(tiny_bert: BertForSequenceClassification) -> None:
    optimizer = torch.optim.AdamW(param_groups(tiny_bert, BASE, 0.8), lr=BASE)
    scheduler = warmup_linear_schedule(optimizer, 4, 10)
    optimizer.step()
    scheduler.step()
    head = max(optimizer.param_groups, key=lambda g: g["layer"])["lr"]
    bottom = min(optimizer.param_groups, key=lambda g: g["layer"])["lr"]
    assert head == pytest.approx(BASE * 2 / 4)
    assert bottom / head == pytest.approx(0.8**3)
