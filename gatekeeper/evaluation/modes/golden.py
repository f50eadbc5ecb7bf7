"""Mode 1, golden: the contract metrics on the frozen set, and paired comparisons with the champion.
Measurement only; thresholds are applied by ``gatekeeper.policy.decide``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gatekeeper.evaluation import stats
from gatekeeper.evaluation.metrics.classification import (
    classification_report,
    latency_summary,
    reliability_curve,
)
from gatekeeper.evaluation.predictions import Predictions


def _report(
    rows: Sequence[dict[str, Any]], preds: Predictions, labels: list[str], critical: list[str]
) -> dict:
    ids = [r["id"] for r in rows]
    y_true = [r["label"] for r in rows]
    y_pred = preds.labels_for(ids)
    conf = preds.confidences_for(ids)
    report = classification_report(y_true, y_pred, conf, labels=labels, critical=critical)
    if conf is not None:
        correct = [t == p for t, p in zip(y_true, y_pred, strict=True)]
        report["reliability"] = reliability_curve(conf, correct)
    return report


def classification_golden(
    rows: Sequence[dict[str, Any]],
    candidate: Predictions,
    champion: Predictions | None,
    *,
    labels: list[str],
    critical: list[str],
    latency_ms: Sequence[float] | None,
    n_resamples: int,
    seed: int,
) -> dict[str, Any]:
    """Reports for both models, paired bootstrap deltas, and the candidate's single-example latency."""
    result: dict[str, Any] = {
        "n": len(rows),
        "candidate": _report(rows, candidate, labels, critical),
        "champion": _report(rows, champion, labels, critical) if champion else None,
        "latency": latency_summary(latency_ms) if latency_ms else None,
    }
    ids = [r["id"] for r in rows]
    y_true, y_cand = [r["label"] for r in rows], candidate.labels_for(ids)
    common: dict[str, Any] = {
        "labels": labels,
        "metrics": ("accuracy", "macro_f1"),
        "recall_of": critical,
        "n_resamples": n_resamples,
        "seed": seed,
    }
    if champion is not None:
        comparisons = stats.compare_classification(y_true, y_cand, champion.labels_for(ids), **common)
        result["comparisons"] = {name: c.to_dict() for name, c in comparisons.items()}
    else:
        intervals = stats.bootstrap_ci(y_true, y_cand, **common)
        result["intervals"] = {name: i.to_dict() for name, i in intervals.items()}
    return result
