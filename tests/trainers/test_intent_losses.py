"""Focal loss and inverse-frequency weights against hand-computed values (seed 003, 6.2-6.3)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from trainers.intent.config import INTENT_LABELS
from trainers.intent.losses import focal_loss, inverse_frequency_weights


def logits_for(probs: list[list[float]]) -> torch.Tensor:
    """Log-probabilities are logits whose softmax is exactly ``probs``."""
    return torch.log(torch.tensor(probs, dtype=torch.float64))


def test_easy_example_weighs_one_hundredth_of_its_cross_entropy() -> None:
    # p_t = 0.9, gamma = 2: (1 - 0.9)^2 = 0.01, -log 0.9 = 0.1053605
    loss = focal_loss(logits_for([[0.9, 0.1]]), torch.tensor([0]), gamma=2.0, reduction="none")
    assert loss.item() == pytest.approx(0.001053605, rel=1e-6)


def test_hard_example_keeps_most_of_its_loss() -> None:
    # p_t = 0.1: (0.9)^2 = 0.81, -log 0.1 = 2.302585 -> 1.865094
    loss = focal_loss(logits_for([[0.9, 0.1]]), torch.tensor([1]), gamma=2.0, reduction="none")
    assert loss.item() == pytest.approx(1.865094, rel=1e-6)


def test_three_example_batch_with_class_weights_by_hand() -> None:
    probs = [[0.9, 0.05, 0.05], [0.2, 0.5, 0.3], [0.1, 0.1, 0.8]]
    alpha = torch.tensor([0.2, 0.3, 0.5])
    targets = torch.tensor([0, 1, 2])
    per_example = focal_loss(logits_for(probs), targets, gamma=2.0, alpha=alpha, reduction="none")
    # 0.2*0.1^2*-ln0.9, 0.3*0.5^2*-ln0.5, 0.5*0.2^2*-ln0.8
    assert per_example.tolist() == pytest.approx([0.00021072103, 0.051986039, 0.004462871], rel=1e-5)
    assert focal_loss(logits_for(probs), targets, gamma=2.0, alpha=alpha, reduction="sum").item() == (
        pytest.approx(0.056659631, rel=1e-6)
    )
    # mean divides by the summed alpha_t of the batch (0.2 + 0.3 + 0.5 = 1.0)
    assert focal_loss(logits_for(probs), targets, gamma=2.0, alpha=alpha).item() == pytest.approx(
        0.056659631, rel=1e-6
    )
    # with repeated classes the denominator is sum(alpha_t), not the batch size
    repeated = focal_loss(logits_for(probs[:2] * 2), torch.tensor([0, 1, 0, 1]), gamma=2.0, alpha=alpha)
    assert repeated.item() == pytest.approx(2 * (0.000210721 + 0.051986039) / (2 * (0.2 + 0.3)), rel=1e-6)


def test_gamma_zero_without_alpha_is_cross_entropy() -> None:
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(16, 10, generator=generator)
    targets = torch.randint(0, 10, (16,), generator=generator)
    expected = F.cross_entropy(logits, targets)
    assert focal_loss(logits, targets, gamma=0.0).item() == pytest.approx(expected.item(), rel=1e-6)
    uniform = torch.full((10,), 0.1)
    assert focal_loss(logits, targets, gamma=0.0, alpha=uniform).item() == pytest.approx(
        expected.item(), rel=1e-6
    )


def test_gamma_zero_with_alpha_is_weighted_cross_entropy() -> None:
    generator = torch.Generator().manual_seed(1)
    logits = torch.randn(32, 4, generator=generator)
    targets = torch.randint(0, 4, (32,), generator=generator)
    alpha = torch.tensor([0.1, 0.2, 0.3, 0.4])
    expected = F.cross_entropy(logits, targets, weight=alpha)
    assert focal_loss(logits, targets, gamma=0.0, alpha=alpha).item() == pytest.approx(
        expected.item(), rel=1e-6
    )


def test_focal_loss_is_smaller_than_cross_entropy_and_differentiable() -> None:
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]], requires_grad=True)
    targets = torch.tensor([0, 2])
    loss = focal_loss(logits, targets, gamma=2.0)
    assert loss.item() < F.cross_entropy(logits, targets).item()
    loss.backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()


def test_inverse_frequency_weights_by_hand() -> None:
    # counts 6, 3, 1 -> freq 0.6, 0.3, 0.1 -> 1/f = 5/3, 10/3, 10 (sum 15) -> 1/9, 2/9, 6/9
    weights = inverse_frequency_weights([0] * 6 + [1] * 3 + [2], 3)
    assert weights.tolist() == pytest.approx([1 / 9, 2 / 9, 6 / 9], rel=1e-6)
    assert weights.sum().item() == pytest.approx(1.0)


def test_seed_class_shares_give_escalation_about_seven_times_product_discovery() -> None:
    # seed 003's data audit: product_discovery 22.1%, escalation 3.0% -> "about 7.3x the weight"
    shares = {
        "product_discovery": 221,
        "recommendation": 180,
        "product_question": 152,
        "faq": 80,
        "order_tracking": 121,
        "return_request": 70,
        "promotion": 50,
        "checkout_help": 41,
        "escalation": 30,
        "chitchat": 55,
    }
    targets = [INTENT_LABELS.index(label) for label, count in shares.items() for _ in range(count)]
    weights = inverse_frequency_weights(targets, len(INTENT_LABELS))
    ratio = weights[INTENT_LABELS.index("escalation")] / weights[INTENT_LABELS.index("product_discovery")]
    assert ratio.item() == pytest.approx(221 / 30, rel=1e-5)
    assert math.isclose(ratio.item(), 7.37, abs_tol=0.01)


def test_class_without_examples_is_refused() -> None:
    with pytest.raises(ValueError, match=r"classes \[1\] have no training examples"):
        inverse_frequency_weights([0, 0, 2], 3)
