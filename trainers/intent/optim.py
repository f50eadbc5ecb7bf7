"""Discriminative learning rates and the warmup/decay schedule (seed 003, 6.5 and 6.6).

Layer numbering: embeddings are layer 0, encoder blocks are 1..L, everything above the encoder
(pooler, pre-classifier, classifier) is the head and takes the base rate, as block L does.
"""

from __future__ import annotations

import re
from typing import Any

from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

# `bert.encoder.layer.3.`, `distilbert.transformer.layer.3.`, `roberta.encoder.layer.3.`, `...layers.3.`
_BLOCK = re.compile(r"(?:^|\.)(?:layer|layers|block|blocks|h)\.(\d+)\.")
_NORM_NAMES = ("layernorm", "layer_norm", "ln_", "norm.")


def encoder_depth(model: nn.Module) -> int:
    """Count encoder blocks from the parameter names (L)."""
    indices = [int(m.group(1)) for name, _ in model.named_parameters() if (m := _BLOCK.search(name))]
    if not indices:
        raise ValueError("no encoder blocks found in parameter names (expected '*.layer.N.*')")
    return max(indices) + 1


def layer_of(name: str, depth: int) -> int:
    """Return the layer a parameter belongs to: 0 embeddings, 1..L blocks, L+1 head."""
    if match := _BLOCK.search(name):
        return int(match.group(1)) + 1
    if any("embed" in part for part in name.split(".")[:-1]):
        return 0
    return depth + 1


def _no_decay_names(model: nn.Module) -> set[str]:
    names: set[str] = set()
    for module_name, module in model.named_modules():
        if isinstance(module, nn.LayerNorm):
            names.update(
                f"{module_name}.{p}" if module_name else p for p, _ in module.named_parameters(recurse=False)
            )
    for name, _ in model.named_parameters():
        lowered = name.lower()
        if name.endswith(".bias") or name == "bias" or any(tag in lowered for tag in _NORM_NAMES):
            names.add(name)
    return names


def param_groups(
    model: nn.Module, base_lr: float, decay: float = 0.8, *, weight_decay: float = 0.01
) -> list[dict[str, Any]]:
    """Build AdamW groups with lr = base_lr * decay**(L - l); biases and LayerNorm get no weight decay.

    Each group also carries ``name``, ``layer`` and ``param_names`` so logs and tests can read it.
    """
    if not 0 < decay <= 1:
        raise ValueError("decay must be in (0, 1]")
    depth = encoder_depth(model)
    no_decay = _no_decay_names(model)
    buckets: dict[tuple[int, bool], dict[str, Any]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        layer = layer_of(name, depth)
        decays = name not in no_decay
        key = (layer, decays)
        if key not in buckets:
            label = "embeddings" if layer == 0 else "head" if layer > depth else f"layer_{layer}"
            buckets[key] = {
                "params": [],
                "param_names": [],
                "lr": base_lr * decay ** max(depth - layer, 0),
                "weight_decay": weight_decay if decays else 0.0,
                "layer": layer,
                "name": f"{label}{'' if decays else '_no_decay'}",
            }
        buckets[key]["params"].append(param)
        buckets[key]["param_names"].append(name)
    return [buckets[key] for key in sorted(buckets)]


def warmup_linear_schedule(optimizer: Optimizer, warmup_steps: int, total_steps: int) -> LambdaLR:
    """Ramp linearly to each group's lr over ``warmup_steps``, then decay linearly towards 0.

    Unlike ``get_linear_schedule_with_warmup`` the first step already uses lr/warmup rather than 0,
    so even a one-step run moves the weights.
    """
    if total_steps < 1:
        raise ValueError("total_steps must be >= 1")
    warmup_steps = max(0, min(warmup_steps, total_steps))

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return LambdaLR(optimizer, factor)
