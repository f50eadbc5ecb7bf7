"""Classification metrics against scikit-learn and hand-computed cases."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.calibration import calibration_curve
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from gatekeeper.evaluation.metrics.classification import (
    bin_edges,
    classification_report,
    encode_labels,
    expected_calibration_error,
    latency_summary,
    reliability_curve,
    top1_confidence,
)

FAST = settings(max_examples=25, deadline=None)


@st.composite
def label_data(draw: st.DrawFn) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Random labels with some classes possibly absent from truth, predictions or both."""
    k = draw(st.integers(2, 6))
    labels = [f"intent_{i}" for i in range(k)]
    n = draw(st.integers(1, 60))
    used_true = draw(st.lists(st.integers(0, k - 1), min_size=1, max_size=k, unique=True))
    used_pred = draw(st.lists(st.integers(0, k - 1), min_size=1, max_size=k, unique=True))
    y_true = draw(st.lists(st.sampled_from(used_true), min_size=n, max_size=n))
    y_pred = draw(st.lists(st.sampled_from(used_pred), min_size=n, max_size=n))
    return labels, np.array(y_true), np.array(y_pred)


@FAST
@given(label_data())
def test_report_matches_sklearn_including_absent_classes(
    data: tuple[list[str], np.ndarray, np.ndarray],
) -> None:
    labels, yt, yp = data
    idx = list(range(len(labels)))
    rep = classification_report(yt, yp, labels=labels)
    assert rep["n"] == len(yt)
    assert rep["accuracy"] == accuracy_score(yt, yp)
    assert rep["macro_f1"] == f1_score(yt, yp, labels=idx, average="macro", zero_division=0)
    p, r, f, s = precision_recall_fscore_support(yt, yp, labels=idx, average=None, zero_division=0)
    for i, name in enumerate(labels):
        assert rep["per_class"][name] == {
            "precision": p[i],
            "recall": r[i],
            "f1": f[i],
            "support": s[i],
        }
    assert rep["confusion_matrix"] == confusion_matrix(yt, yp, labels=idx).tolist()
    # The same data given as label strings gives the same report.
    names = np.array(labels)
    assert classification_report(names[yt], list(names[yp]), labels=labels) == rep


def test_absent_class_pulls_macro_f1_down_over_the_full_label_set() -> None:
    labels = ["a", "b", "c"]
    rep = classification_report(["a", "a", "b"], ["a", "a", "b"], labels=labels)
    # a and b are perfect (F1 1), c never occurs anywhere: F1 0 by zero_division=0 -> macro = 2/3.
    assert rep["accuracy"] == 1.0
    assert rep["macro_f1"] == pytest.approx(2 / 3)
    assert rep["per_class"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}


def test_single_label_set() -> None:
    rep = classification_report(["a", "a"], [0, 0], labels=["a"])
    assert rep["confusion_matrix"] == [[2]]
    assert rep["accuracy"] == 1.0 and rep["macro_f1"] == 1.0


def test_rare_recall_and_minimum() -> None:
    labels = ["chitchat", "escalation", "return_request", "checkout_help"]
    y_true = ["escalation"] * 4 + ["return_request"] * 2 + ["checkout_help"] * 5 + ["chitchat"] * 3
    y_pred = (
        ["escalation"] * 3
        + ["chitchat"]  # escalation recall 3/4
        + ["return_request", "chitchat"]  # return_request recall 1/2
        + ["checkout_help"] * 5  # checkout_help recall 1
        + ["chitchat"] * 3
    )
    rep = classification_report(y_true, y_pred, labels=labels, critical=labels[1:])
    assert rep["rare_recall"] == {"escalation": 0.75, "return_request": 0.5, "checkout_help": 1.0}
    assert rep["rare_recall_min"] == 0.5
    assert classification_report(y_true, y_pred, labels=labels)["rare_recall_min"] is None
    with pytest.raises(ValueError, match="critical"):
        classification_report(y_true, y_pred, labels=labels, critical=["refund"])


def test_ece_hand_computed() -> None:
    # 15 bins of width 1/15. Three groups, n = 6:
    #   bin (14/15, 1]:      conf 0.95 (right), 0.97 (right), 0.99 (wrong): mean 0.97, acc 2/3
    #                        -> count * |acc - conf| = 3 * (0.97 - 2/3) = 2.91 - 2 = 0.91
    #   bin (7/15, 8/15]:    conf 0.50 (right), 0.52 (wrong): mean 0.51, acc 0.5 -> 2 * 0.01 = 0.02
    #   bin (1/15, 2/15]:    conf 0.10 (wrong): acc 0 -> 1 * 0.10 = 0.10
    # ECE = (0.91 + 0.02 + 0.10) / 6 = 1.03 / 6
    conf = [0.95, 0.97, 0.99, 0.50, 0.52, 0.10]
    correct = [1, 1, 0, 1, 0, 0]
    assert expected_calibration_error(conf, correct) == pytest.approx(1.03 / 6, abs=1e-12)
    rows = reliability_curve(conf, correct)
    assert [r["count"] for r in rows] == [0, 1, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 3]
    assert rows[14]["mean_confidence"] == pytest.approx(0.97)
    assert rows[14]["accuracy"] == pytest.approx(2 / 3)
    assert rows[0]["mean_confidence"] is None and rows[0]["accuracy"] is None


def test_bin_edge_convention() -> None:
    edges = bin_edges(15)
    # 0 joins the first bin; an edge value belongs to the bin below it; 1 is in the last bin.
    conf = [0.0, edges[1], np.nextafter(edges[1], 1.0), edges[7], 1.0]
    counts = [r["count"] for r in reliability_curve(conf, [1, 1, 1, 1, 1])]
    assert counts[0] == 2
    assert counts[1] == 1
    assert counts[6] == 1
    assert counts[14] == 1
    assert sum(counts) == 5


def test_reliability_curve_matches_sklearn_calibration_curve() -> None:
    rng = np.random.default_rng(3)
    conf = rng.random(500)
    correct = (rng.random(500) < conf).astype(int)
    rows = [r for r in reliability_curve(conf, correct) if r["count"]]
    prob_true, prob_pred = calibration_curve(correct, conf, n_bins=15, strategy="uniform")
    np.testing.assert_allclose([r["accuracy"] for r in rows], prob_true, rtol=0, atol=1e-12)
    np.testing.assert_allclose([r["mean_confidence"] for r in rows], prob_pred, rtol=0, atol=1e-12)


def test_perfectly_calibrated_construction_gives_zero_ece() -> None:
    # Ten examples at each confidence c in {0.1, ..., 1.0}, exactly 10c of them correct: each bin's
    # accuracy equals its mean confidence, so ECE is 0 up to rounding.
    conf, correct = [], []
    for tenths in range(1, 11):
        conf += [tenths / 10] * 10
        correct += [1] * tenths + [0] * (10 - tenths)
    assert expected_calibration_error(conf, correct) == pytest.approx(0.0, abs=1e-12)
    # A model that is always right but only 60% confident is miscalibrated by exactly 0.4.
    assert expected_calibration_error([0.6] * 10, [1] * 10) == pytest.approx(0.4)


def test_sampled_calibrated_model_has_small_ece() -> None:
    rng = np.random.default_rng(0)
    conf = rng.uniform(0.2, 1.0, 100_000)
    correct = rng.random(100_000) < conf
    assert expected_calibration_error(conf, correct) < 0.01
    assert expected_calibration_error(conf, ~correct) > 0.2


def test_low_confidence_rate_and_proba_forms() -> None:
    labels = ["a", "b", "c"]
    proba = np.array(
        [
            [0.70, 0.20, 0.10],  # top-1 0.70
            [0.59, 0.40, 0.01],  # top-1 0.59 -> low
            [0.20, 0.60, 0.20],  # top-1 0.60 exactly -> not low (strictly below the threshold is low)
            [0.34, 0.33, 0.33],  # top-1 0.34 -> low
        ]
    )
    y_true = ["a", "b", "b", "c"]
    y_pred = ["a", "a", "b", "a"]
    rep = classification_report(y_true, y_pred, proba, labels=labels)
    assert rep["low_confidence_rate"] == 0.5
    # ECE from top-1 confidences and y_pred correctness [1, 0, 1, 0]:
    #   0.70 alone in (10/15, 11/15]: |1 - 0.70| = 0.30
    #   0.59 and 0.60 share (8/15, 9/15]: mean 0.595, acc 0.5 -> 2 * 0.095 = 0.19
    #   0.34 alone in (5/15, 6/15]: |0 - 0.34| = 0.34
    assert rep["ece"] == pytest.approx((0.30 + 0.19 + 0.34) / 4, abs=1e-12)
    assert classification_report(y_true, y_pred, proba.max(axis=1), labels=labels) == rep
    none = classification_report(y_true, y_pred, labels=labels)
    assert none["ece"] is None and none["low_confidence_rate"] is None
    json.dumps(rep)  # the report goes straight into the evaluation record


def test_confidence_validation() -> None:
    np.testing.assert_array_equal(top1_confidence([1.0 + 5e-7, 0.0]), [1.0, 0.0])
    with pytest.raises(ValueError):
        top1_confidence([1.1, 0.5])
    with pytest.raises(ValueError):
        top1_confidence([np.nan])
    with pytest.raises(ValueError, match="rows"):
        classification_report(["a"], ["a"], [[0.5, 0.5], [0.5, 0.5]], labels=["a", "b"])
    with pytest.raises(ValueError):
        expected_calibration_error([], [])


def test_encode_labels() -> None:
    labels = ["x", "y", "z"]
    np.testing.assert_array_equal(encode_labels(["z", "x", "z"], labels), [2, 0, 2])
    np.testing.assert_array_equal(encode_labels(np.array([2, 0, 1]), labels), [2, 0, 1])
    assert encode_labels([], labels).shape == (0,)
    with pytest.raises(ValueError, match="not in the label set"):
        encode_labels(["x", "w"], labels)
    with pytest.raises(ValueError, match="out of range"):
        encode_labels([0, 3], labels)
    with pytest.raises(ValueError, match="mixture"):
        encode_labels(np.array(["x", 1], dtype=object), labels)
    with pytest.raises(ValueError):
        encode_labels([0.0, 1.0], labels)
    with pytest.raises(ValueError, match="distinct"):
        encode_labels([0], ["x", "x"])


def test_latency_summary() -> None:
    lat = np.random.default_rng(1).gamma(2.0, 4.0, 1001)
    p50, p95, p99 = np.percentile(lat, [50, 95, 99])
    assert latency_summary(lat) == {"p50_ms": p50, "p95_ms": p95, "p99_ms": p99}
    assert latency_summary([1, 2, 3, 4, 5]) == {"p50_ms": 3.0, "p95_ms": 4.8, "p99_ms": 4.96}
    assert latency_summary([]) == {"p50_ms": None, "p95_ms": None, "p99_ms": None}
    with pytest.raises(ValueError):
        latency_summary([1.0, -2.0])
    rep = classification_report(["a"], ["a"], labels=["a", "b"], latencies_ms=[3.0])
    assert rep["latency"] == {"p50_ms": 3.0, "p95_ms": 3.0, "p99_ms": 3.0}
