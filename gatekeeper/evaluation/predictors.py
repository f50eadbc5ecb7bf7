"""Run an artifact on evalset rows, per task. Inputs are de-duplicated across all files and sorted by
length before batching, so each distinct input is predicted once with little padding."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gatekeeper.errors import ValidationFailed
from gatekeeper.evaluation.predictions import Predictions, from_probabilities

CHUNK = 256
Tick = Callable[[int, int], None]


def load(task: str, path: Path) -> Any:
    """Load an artifact for its task (safetensors only; the loaders refuse pickle files)."""
    if task == "classification":
        from trainers.intent.predict import IntentPredictor

        return IntentPredictor.load(path)
    raise ValidationFailed(
        f"running {task} artifacts is not supported; submit predictions instead", field="predictions_uri"
    )


def _unique_in_length_order(texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
    unique = list(dict.fromkeys(texts))
    order = sorted(range(len(unique)), key=lambda i: len(unique[i]))
    position = {text: rank for rank, text in enumerate(unique[i] for i in order)}
    return [unique[i] for i in order], np.array([position[t] for t in texts], dtype=np.int64)


def predict_rows(
    predictor: Any, task: str, rows: Sequence[dict[str, Any]], *, labels: Sequence[str], progress: Tick
) -> Predictions:
    """Predict every row; identical inputs (within and across files) are computed once."""
    if task != "classification":
        raise ValidationFailed(f"no artifact runner for task {task}")
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


def latency_samples(predictor: Any, task: str, rows: Sequence[dict[str, Any]], *, n: int) -> list[float]:
    """Time ``n`` single-example predictions (after a short warm-up) on the golden inputs."""
    texts = [r["text"] for r in rows][: max(n, 1)]
    for text in texts[:10]:
        predictor.predict_proba([text])
    samples = []
    for i in range(n):
        started = time.perf_counter()
        predictor.predict_proba([texts[i % len(texts)]])
        samples.append(round((time.perf_counter() - started) * 1000.0, 4))
    return samples


def task_results(task: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    raise ValidationFailed(f"the {task} gate is not available")
