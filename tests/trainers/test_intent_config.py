"""The trainer's defaults are seed 003's recipe; bad options are refused up front."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from trainers.intent.config import IntentTrainConfig


def test_defaults_are_the_seed_recipe(minilm_path: str) -> None:
    config = IntentTrainConfig(train_path=Path("train.jsonl"), output_dir=Path("out"))
    assert config.base_model == minilm_path
    assert (config.focal_gamma, config.class_weights) == (2.0, True)
    assert (config.base_lr, config.layer_decay, config.warmup_ratio) == (2e-5, 0.8, 0.1)
    assert (config.batch_size, config.epochs, config.max_length) == (32, 3, 64)
    assert (config.max_grad_norm, config.weight_decay) == (1.0, 0.01)
    assert (config.kappa_reject_below, config.kappa_flag_below) == (0.65, 0.75)
    assert config.num_threads is None
    assert "train_path" not in config.recipe() and config.recipe()["focal_gamma"] == 2.0


def test_tags_are_kept_as_strings() -> None:
    config = IntentTrainConfig(train_path=Path("t"), output_dir=Path("o"), base_model="m", tags={"seed": 3})
    assert config.tags == {"seed": "3"}


@pytest.mark.parametrize(
    "bad",
    [
        {"epochs": 0},
        {"focal_gamma": -1.0},
        {"layer_decay": 1.5},
        {"kappa_reject_below": 0.8},
        {"labels": ["faq", "faq"]},
        {"unknown_option": 1},
        {"encoder_blocks": [2, 1]},
        {"encoder_blocks": [1, 1]},
        {"encoder_blocks": [-1]},
        {"encoder_blocks": []},
        {"length_buckets": 0},
        {"frozen_blocks": -1},
    ],
)
def test_bad_options_are_refused(bad: dict) -> None:
    with pytest.raises(ValidationError):
        IntentTrainConfig(train_path=Path("t"), output_dir=Path("o"), base_model="m", **bad)
