"""Classification metrics for the offline gate: pure functions, arrays in, JSON-ready dicts out.

Counting metrics come from scikit-learn so that every figure in a gate report matches what anyone
re-computing it with the standard library would get; only ECE and the reliability curve (which
scikit-learn does not provide in this exact form) are computed here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

__all__ = [
    "bin_edges",
    "classification_report",
    "encode_labels",
    "expected_calibration_error",
    "latency_summary",
    "reliability_curve",
    "top1_confidence",
]

# Softmax outputs in float32 can land a hair outside [0, 1]; more than this is a caller bug.
_PROBA_TOLERANCE = 1e-6


def encode_labels(values: ArrayLike, labels: Sequence[str]) -> NDArray[np.int64]:
    """Map label strings or integer class indices to indices into ``labels``, refusing unknown values.

    Both forms are accepted because cached predictions store label strings while models emit indices;
    normalising once here keeps every metric on the same label order.
    """
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"expected a 1-D sequence of labels, got shape {arr.shape}")
    k = len(labels)
    if k == 0 or len(set(labels)) != k:
        raise ValueError("labels must be a non-empty list of distinct names")
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    kind = arr.dtype.kind
    if kind in "iu":
        out = arr.astype(np.int64)
        if out.min() < 0 or out.max() >= k:
            raise ValueError(f"class index out of range [0, {k}): min {out.min()}, max {out.max()}")
        return out
    if kind == "O" and not all(isinstance(v, str) for v in arr):
        raise ValueError("labels must be all strings or all integer class indices, not a mixture")
    if kind not in "UO":
        raise ValueError(f"labels must be strings or integer class indices, got dtype {arr.dtype}")
    uniq, inverse = np.unique(arr.astype(str), return_inverse=True)
    index = {name: i for i, name in enumerate(labels)}
    unknown = [str(u) for u in uniq if u not in index]
    if unknown:
        raise ValueError(f"labels not in the label set: {sorted(unknown)[:10]}")
    mapping = np.array([index[str(u)] for u in uniq], dtype=np.int64)
    return mapping[inverse.reshape(-1)]


def top1_confidence(proba: ArrayLike, n: int | None = None) -> NDArray[np.float64]:
    """Return each example's top-1 probability from an (n, K) matrix, or pass (n,) confidences through."""
    arr = np.asarray(proba, dtype=np.float64)
    if arr.ndim == 2:
        conf = arr.max(axis=1) if arr.shape[1] else np.zeros(arr.shape[0])
    elif arr.ndim == 1:
        conf = arr
    else:
        raise ValueError(f"proba must be (n, K) probabilities or (n,) confidences, got shape {arr.shape}")
    if n is not None and conf.shape[0] != n:
        raise ValueError(f"proba has {conf.shape[0]} rows for {n} examples")
    return _checked_confidence(conf)


def _checked_confidence(confidence: ArrayLike) -> NDArray[np.float64]:
    conf = np.asarray(confidence, dtype=np.float64)
    if conf.ndim != 1:
        raise ValueError(f"confidence must be 1-D, got shape {conf.shape}")
    if conf.size and (
        not np.all(np.isfinite(conf)) or conf.min() < -_PROBA_TOLERANCE or conf.max() > 1 + _PROBA_TOLERANCE
    ):
        raise ValueError("confidences must be finite and within [0, 1]")
    return np.clip(conf, 0.0, 1.0)


def bin_edges(n_bins: int = 15) -> NDArray[np.float64]:
    """Return the ``n_bins + 1`` equal-width edges on [0, 1] used by ECE and the reliability curve."""
    if n_bins < 1:
        raise ValueError("n_bins must be at least 1")
    return np.linspace(0.0, 1.0, n_bins + 1)


def _bin_index(conf: NDArray[np.float64], n_bins: int) -> NDArray[np.intp]:
    # Bins are right-closed, (e_{i-1}, e_i], with 0 joining the first bin: an edge value belongs to the
    # bin below it. ``searchsorted(..., side="left")`` on the inner edges is exactly that rule, and is
    # also what sklearn.calibration.calibration_curve does for its uniform bins.
    return np.searchsorted(bin_edges(n_bins)[1:-1], conf, side="left")


def _binned(
    confidence: ArrayLike, correct: ArrayLike, n_bins: int
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], int]:
    conf = _checked_confidence(confidence)
    corr = np.asarray(correct)
    if corr.shape != conf.shape:
        raise ValueError(f"correct has shape {corr.shape}, confidence {conf.shape}")
    corr = corr.astype(np.float64)
    idx = _bin_index(conf, n_bins)
    counts = np.bincount(idx, minlength=n_bins).astype(np.float64)
    conf_sum = np.bincount(idx, weights=conf, minlength=n_bins).astype(np.float64)
    corr_sum = np.bincount(idx, weights=corr, minlength=n_bins).astype(np.float64)
    return counts, conf_sum, corr_sum, int(conf.shape[0])


def expected_calibration_error(confidence: ArrayLike, correct: ArrayLike, n_bins: int = 15) -> float:
    """Return ECE = sum over bins of (bin count / n) * |bin accuracy - bin mean confidence|.

    Bins are equal-width on [0, 1] with right-closed edges (0, 1/15], (1/15, 2/15], ..., (14/15, 1]
    (edges are ``numpy.linspace(0, 1, n_bins + 1)``); a confidence of exactly 0 goes in the first bin.
    Empty bins contribute nothing. Raises on empty input: an ECE of nothing is not 0.
    """
    counts, conf_sum, corr_sum, n = _binned(confidence, correct, n_bins)
    if n == 0:
        raise ValueError("ECE needs at least one example")
    gaps = np.abs(corr_sum - conf_sum)  # = count * |accuracy - mean confidence| per bin
    return float(gaps.sum() / n)


def reliability_curve(confidence: ArrayLike, correct: ArrayLike, n_bins: int = 15) -> list[dict[str, Any]]:
    """Return one row per bin for the calibration diagram (same bins as ECE).

    Every bin is listed so the diagram's x-axis is fixed; empty bins have ``count`` 0 and ``None``
    for ``mean_confidence`` and ``accuracy``.
    """
    counts, conf_sum, corr_sum, _ = _binned(confidence, correct, n_bins)
    edges = bin_edges(n_bins)
    rows: list[dict[str, Any]] = []
    for i in range(n_bins):
        c = int(counts[i])
        rows.append(
            {
                "bin_lower": float(edges[i]),
                "bin_upper": float(edges[i + 1]),
                "mean_confidence": float(conf_sum[i] / c) if c else None,
                "accuracy": float(corr_sum[i] / c) if c else None,
                "count": c,
            }
        )
    return rows


def latency_summary(latencies_ms: ArrayLike) -> dict[str, float | None]:
    """Return p50/p95/p99 of per-example latencies (numpy's linear-interpolation percentiles).

    With no latencies every figure is ``None`` so a gate can tell "not measured" from "0 ms".
    """
    lat = np.asarray(latencies_ms, dtype=np.float64).reshape(-1)
    if lat.size == 0:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None}
    if not np.all(np.isfinite(lat)) or lat.min() < 0:
        raise ValueError("latencies must be finite and non-negative")
    p50, p95, p99 = np.percentile(lat, [50, 95, 99])
    return {"p50_ms": float(p50), "p95_ms": float(p95), "p99_ms": float(p99)}


def _confusion(yt: NDArray[np.int64], yp: NDArray[np.int64], idx: list[int]) -> list[list[int]]:
    if len(idx) == 1:  # sklearn warns on a 1x1 matrix even with labels= given; the answer is trivial
        return [[int(yt.shape[0])]]
    return confusion_matrix(yt, yp, labels=idx).tolist()


def _encoded(
    y_true: ArrayLike, y_pred: ArrayLike, labels: list[str], critical: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Truth and predictions as label indices, refusing what a report cannot be computed on."""
    yt = encode_labels(y_true, labels)
    yp = encode_labels(y_pred, labels)
    if yt.shape != yp.shape:
        raise ValueError(f"y_true has {yt.shape[0]} examples, y_pred {yp.shape[0]}")
    if int(yt.shape[0]) == 0:
        raise ValueError("a classification report needs at least one example")
    missing = [c for c in critical if c not in labels]
    if missing:
        raise ValueError(f"critical classes not in labels: {missing}")
    return yt, yp


def _per_class(yt: np.ndarray, yp: np.ndarray, labels: list[str]) -> dict[str, dict[str, Any]]:
    precision, recall, f1, support = precision_recall_fscore_support(
        yt, yp, labels=list(range(len(labels))), average=None, zero_division=0
    )
    return {
        name: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, name in enumerate(labels)
    }


def _confidence_figures(
    proba: ArrayLike | None, correct: np.ndarray, low_conf_threshold: float, n_bins: int
) -> tuple[float | None, float | None]:
    """ECE and the low-confidence rate of the top-1 confidences, or neither without them."""
    if proba is None:
        return None, None
    conf = top1_confidence(proba, int(correct.shape[0]))
    return expected_calibration_error(conf, correct, n_bins), float(np.mean(conf < low_conf_threshold))


def classification_report(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    proba: ArrayLike | None = None,
    *,
    labels: Sequence[str],
    critical: Sequence[str] = (),
    low_conf_threshold: float = 0.6,
    n_bins: int = 15,
    latencies_ms: ArrayLike | None = None,
) -> dict[str, Any]:
    """Compute the gate's classification metrics on one set of predictions as a JSON-ready dict.

    Averages run over every label in ``labels`` (scikit-learn's ``labels=`` with ``zero_division=0``),
    so a class absent from both truth and predictions counts as F1 0 and the figure is comparable
    across models and runs. ``proba`` is an (n, K) matrix in ``labels`` order or (n,) top-1
    confidences; without it ``ece`` and ``low_confidence_rate`` are ``None``. ``y_pred`` is taken to be
    the top-1 class, so correctness for ECE is ``y_pred == y_true``.
    """
    labels = list(labels)
    yt, yp = _encoded(y_true, y_pred, labels, critical)
    n = int(yt.shape[0])
    idx = list(range(len(labels)))
    per_class = _per_class(yt, yp, labels)
    rare_recall = {c: per_class[c]["recall"] for c in critical}
    ece, low_conf = _confidence_figures(proba, yt == yp, low_conf_threshold, n_bins)
    return {
        "n": n,
        "labels": labels,
        "accuracy": float(accuracy_score(yt, yp)),
        "macro_f1": float(f1_score(yt, yp, labels=idx, average="macro", zero_division=0)),
        "per_class": per_class,
        "rare_recall": rare_recall,
        "rare_recall_min": min(rare_recall.values()) if rare_recall else None,
        "ece": ece,
        "low_confidence_rate": low_conf,
        "low_conf_threshold": float(low_conf_threshold),
        "confusion_matrix": _confusion(yt, yp, idx),
        "latency": latency_summary(latencies_ms) if latencies_ms is not None else None,
    }
