"""The packaged all-MiniLM-L6-v2 was trained for mean-pooled sentence embeddings; its BERT pooler was
never trained and its output barely varies between inputs (per-unit std ~0.035 against ~0.2 for the CLS
state), so a fresh head on top of it starts blind. Re-initialising the pooler as the identity makes the
head see tanh(CLS) from the first step."""

from __future__ import annotations

import torch
from transformers import PreTrainedModel


def has_square_pooler(model: PreTrainedModel) -> bool:
    pooler = getattr(getattr(model, model.base_model_prefix, None), "pooler", None)
    dense = getattr(pooler, "dense", None)
    return isinstance(dense, torch.nn.Linear) and dense.in_features == dense.out_features


def reset_pooler(model: PreTrainedModel, scale: float = 1.0) -> None:
    """Make the pooler pass the CLS state through (times ``scale``) before its tanh."""
    if not has_square_pooler(model):
        raise ValueError("pooler_init='identity' needs a BERT-style pooler (square dense + tanh)")
    dense = getattr(model, model.base_model_prefix).pooler.dense
    with torch.no_grad():
        dense.weight.copy_(torch.eye(dense.in_features) * scale)
        dense.bias.zero_()
