"""Validation metrics logged by the trainer: ECE by hand, the rest against scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import f1_score, recall_score

from trainers.intent.metrics import classification_metrics, expected_calibration_error, rarest_classes


def test_ece_by_hand() -> None:
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.38, 0.62], [0.3, 0.7]])
    y = np.array([0, 1, 1, 0])
    # bin of 0.9: 2 rows, accuracy 0.5 -> 2/4 * |0.5 - 0.9| = 0.2
    # bin of 0.62: 1 row, correct -> 1/4 * |1 - 0.62| = 0.095
    # bin of 0.7: 1 row, wrong -> 1/4 * |0 - 0.7| = 0.175
    assert expected_calibration_error(probs, y) == pytest.approx(0.47)


def test_ece_of_calibrated_and_of_empty_input() -> None:
    # 4 rows at confidence 0.75, 3 of them right: calibrated
    probs = np.array([[0.75, 0.25]] * 4)
    assert expected_calibration_error(probs, np.array([0, 0, 0, 1])) == pytest.approx(0.0)
    assert math.isnan(expected_calibration_error(np.empty((0, 2)), np.array([], dtype=int)))


def test_confidences_in_one_bin_are_pooled() -> None:
    # 0.91 and 0.93 share the bin (13/15, 14/15]: pooled |0.5 - 0.92| = 0.42, not the per-row mean 0.46
    probs = np.array([[0.91, 0.09], [0.93, 0.07]])
    assert expected_calibration_error(probs, np.array([0, 1])) == pytest.approx(0.42)


def test_rarest_classes_picks_least_frequent_with_ties_by_id() -> None:
    targets = [0] * 10 + [1] * 2 + [2] * 5 + [3] * 2 + [4] * 1
    assert rarest_classes(targets, 5, 3) == [1, 3, 4]
    assert rarest_classes(targets, 6, 1) == [5]  # a class with no examples is the rarest


def test_classification_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 200)
    logits = rng.normal(size=(200, 4)) + 2.0 * np.eye(4)[y]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    pred = probs.argmax(axis=1)
    metrics = classification_metrics(y, probs, labels=["a", "b", "c", "d"], rare=[1, 3])
    assert metrics["accuracy"] == pytest.approx(float((pred == y).mean()))
    assert metrics["macro_f1"] == pytest.approx(f1_score(y, pred, average="macro"))
    assert metrics["rare_recall"] == pytest.approx(recall_score(y, pred, labels=[1, 3], average="macro"))
    assert metrics["per_class_recall"]["c"] == pytest.approx(
        recall_score(y, pred, labels=[2], average="macro")
    )
    assert metrics["ece"] == pytest.approx(expected_calibration_error(probs, y))


def test_rare_recall_by_hand_and_undefined_without_rare_rows() -> None:
    probs = np.eye(3)[[0, 1, 1, 2, 0]]
    y = np.array([0, 1, 2, 2, 2])
    metrics = classification_metrics(y, probs, labels=["x", "y", "z"], rare=[1, 2])
    # class 1: 1/1, class 2: 1/3 -> mean 2/3
    assert metrics["rare_recall"] == pytest.approx(2 / 3)
    assert math.isnan(
        classification_metrics(y[:1], probs[:1], labels=["x", "y", "z"], rare=[1])["rare_recall"]
    )
