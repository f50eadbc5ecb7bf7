"""Focal loss with inverse-frequency class weights (seed 003, 6.2 and 6.3)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F

Reduction = Literal["mean", "sum", "none"]


def inverse_frequency_weights(targets: Sequence[int] | torch.Tensor, num_classes: int) -> torch.Tensor:
    """Return alpha_c = (1/freq_c) / sum_k (1/freq_k), so rare intents weigh more and alpha sums to 1."""
    counts = torch.bincount(torch.as_tensor(targets, dtype=torch.long), minlength=num_classes).double()
    if counts.numel() != num_classes:
        raise ValueError(f"targets hold class ids >= num_classes={num_classes}")
    if bool((counts == 0).any()):
        missing = [int(i) for i in torch.nonzero(counts == 0).flatten()]
        raise ValueError(
            f"classes {missing} have no training examples; inverse-frequency weights are undefined"
        )
    inverse = 1.0 / (counts / counts.sum())
    return (inverse / inverse.sum()).float()


def focal_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    *,
    gamma: float = 2.0,
    alpha: torch.Tensor | None = None,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Compute -alpha_t (1 - p_t)^gamma log p_t per example.

    ``mean`` divides by the summed alpha_t of the batch, the convention of
    ``F.cross_entropy(weight=...)``: with gamma=0 this is exactly weighted cross-entropy, and the
    loss scale does not depend on how alpha is normalised.
    """
    if gamma < 0:
        raise ValueError("gamma must be >= 0")
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()  # log-softmax in half precision underflows for confident rows
    log_probs = F.log_softmax(logits, dim=-1)
    log_pt = log_probs.gather(1, targets.long().unsqueeze(1)).squeeze(1)
    modulator = (1.0 - log_pt.exp()).clamp(min=0.0).pow(gamma) if gamma else torch.ones_like(log_pt)
    weight = (
        alpha.to(log_pt.device, log_pt.dtype)[targets.long()]
        if alpha is not None
        else torch.ones_like(log_pt)
    )
    losses = -weight * modulator * log_pt
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    return losses.sum() / weight.sum()
