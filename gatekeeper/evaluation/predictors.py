"""Run an artifact on evalset rows, per task. Inputs are de-duplicated across all files and sorted by
length before batching, so each distinct input is predicted once with little padding."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gatekeeper.errors import ValidationFailed
from gatekeeper.evaluation.predictions import Predictions, from_probabilities

CHUNK = 256
Tick = Callable[[int, int], None]


def load(task: str, path: Path, *, base_model: Path | None = None) -> Any:
    """Load an artifact for its task (safetensors only; the loaders refuse pickle files)."""
    if task == "classification":
        from trainers.intent.predict import IntentPredictor

        return IntentPredictor.load(path)
    if task == "ranking":
        from trainers.reranker.predict import RerankerPredictor

        return RerankerPredictor.load(path)
    if base_model is None:
        raise ValidationFailed(
            "a generator adapter needs its base model: set metadata.base_model (a path under "
            "the artifact root) when registering, or submit predictions",
            field="metadata",
        )
    from trainers.qlora.predict import GeneratorPredictor

    return GeneratorPredictor.load(path, str(base_model), quantize=None)


def _unique_in_length_order(texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
    unique = list(dict.fromkeys(texts))
    order = sorted(range(len(unique)), key=lambda i: len(unique[i]))
    position = {text: rank for rank, text in enumerate(unique[i] for i in order)}
    return [unique[i] for i in order], np.array([position[t] for t in texts], dtype=np.int64)


def predict_rows(
    predictor: Any,
    task: str,
    rows: Sequence[dict[str, Any]],
    *,
    labels: Sequence[str],
    progress: Tick,
    products: Mapping[str, Any] | None = None,
) -> Predictions:
    """Predict every row; identical inputs (within and across files) are computed once."""
    if task == "ranking":
        scores = predictor.score_queries(rows, products or {})
        progress(len(rows), len(rows))
        return Predictions([r["id"] for r in rows], [scores[r["id"]] for r in rows])
    if task == "generation":
        outputs: list[dict[str, Any]] = []
        for start in range(0, len(rows), 16):
            outputs += predictor.predict_examples(rows[start : start + 16])
            progress(len(outputs), len(rows))
        return Predictions(
            [r["id"] for r in rows],
            [{"output": o["output"], "tool_calls": o.get("tool_calls") or []} for o in outputs],
        )
    return _classify(predictor, rows, labels=labels, progress=progress)


def _classify(
    predictor: Any, rows: Sequence[dict[str, Any]], *, labels: Sequence[str], progress: Tick
) -> Predictions:
    if set(predictor.labels) != set(labels):
        raise ValidationFailed(
            f"the model's labels {sorted(predictor.labels)} differ from the evalset's {sorted(labels)}",
            field="artifact_uri",
        )
    columns = [list(predictor.labels).index(label) for label in labels]  # into the evalset's label order
    unique, where = _unique_in_length_order([r["text"] for r in rows])
    parts = []
    for start in range(0, len(unique), CHUNK):
        parts.append(predictor.predict_proba(unique[start : start + CHUNK], batch_size=64)[:, columns])
        progress(min(start + CHUNK, len(unique)), len(unique))
    proba = np.concatenate(parts) if parts else np.empty((0, len(labels)))
    return from_probabilities([r["id"] for r in rows], proba[where], list(labels))


def latency_samples(
    predictor: Any,
    task: str,
    rows: Sequence[dict[str, Any]],
    *,
    n: int,
    products: Mapping[str, Any] | None = None,
) -> list[float] | None:
    """Time ``n`` single-request predictions (after a short warm-up) on the golden inputs.

    Classification: one text; ranking: one query with all its candidates. Generators are timed where
    they serve (GPU), so none is measured here."""
    if task == "generation":
        return None
    sample = list(rows[: max(n, 1)])

    def once(row: dict[str, Any]) -> None:
        if task == "ranking":
            predictor.score_queries([row], products or {})
        else:
            predictor.predict_proba([row["text"]])

    for row in sample[:10]:
        once(row)
    samples = []
    for i in range(n):
        started = time.perf_counter()
        once(sample[i % len(sample)])
        samples.append(round((time.perf_counter() - started) * 1000.0, 4))
    return samples
