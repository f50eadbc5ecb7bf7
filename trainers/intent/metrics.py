"""Validation metrics the trainer logs per epoch (the gate computes its own in gatekeeper.evaluation)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, recall_score

ECE_BINS = 15


def expected_calibration_error(probs: np.ndarray, y_true: np.ndarray, n_bins: int = ECE_BINS) -> float:
    """Top-label ECE over equal-width confidence bins (lo, hi]: sum_b |B|/n * |acc(B) - conf(B)|."""
    if len(y_true) == 0:
        return math.nan
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == y_true).astype(float)
    bins = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    total = 0.0
    for b in np.unique(bins):
        members = bins == b
        total += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(total)


def rarest_classes(train_targets: Sequence[int], num_classes: int, k: int) -> list[int]:
    """Pick the k least frequent training classes (ties by class id) as the 'rare' ones."""
    counts = np.bincount(np.asarray(train_targets, dtype=int), minlength=num_classes)
    return sorted(sorted(range(num_classes), key=lambda c: (counts[c], c))[:k])


def classification_metrics(
    y_true: np.ndarray, probs: np.ndarray, *, labels: Sequence[str], rare: Sequence[int]
) -> dict[str, Any]:
    """Accuracy, macro-F1, mean recall over rare classes, ECE and per-class recall."""
    y_pred = probs.argmax(axis=1)
    rare_present = [c for c in rare if c in set(y_true.tolist())]
    per_class = recall_score(y_true, y_pred, labels=list(range(len(labels))), average=None, zero_division=0)
    present = set(y_true.tolist())
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "rare_recall": (
            float(recall_score(y_true, y_pred, labels=rare_present, average="macro", zero_division=0))
            if rare_present
            else math.nan
        ),
        "ece": expected_calibration_error(probs, y_true),
        "per_class_recall": {labels[c]: float(per_class[c]) for c in range(len(labels)) if c in present},
    }
