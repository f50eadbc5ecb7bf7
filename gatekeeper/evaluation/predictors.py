"""Run an artifact on evalset rows, per task. Inputs are de-duplicated and sorted by length before
batching, so each distinct input is predicted once with little padding. A pass is cut into units
(``split``) that any executor can run (``run_unit``) and put back together (``assemble``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gatekeeper.errors import ValidationFailed
from gatekeeper.evaluation.predictions import Predictions, from_probabilities

CHUNK = 256  # inputs per unit: a multiple of the models' batch of 64
GENERATION_CHUNK = 16
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


@dataclass(frozen=True)
class Work:
    """One prediction pass cut into units. A unit is one batch exactly as the in-process loop runs it,
    so its numbers do not depend on where it runs (padding, and so the floats, follow the batch).
    Units and their outputs are plain JSON values, to travel to other machines."""

    task: str
    ids: list[str]
    labels: list[str]
    units: list[list[Any]]
    rebuild: Any  # classification: where each row's text sits; ranking: (queries, slots, order)

    @property
    def sizes(self) -> list[int]:
        return [len(unit) for unit in self.units]


def _chunks(items: Sequence[Any], size: int) -> list[list[Any]]:
    return [list(items[start : start + size]) for start in range(0, len(items), size)]


def split(
    task: str,
    rows: Sequence[dict[str, Any]],
    *,
    labels: Sequence[str],
    products: Mapping[str, Any] | None = None,
) -> Work:
    """Cut the rows into units; identical inputs (texts, query-product pairs) are predicted once."""
    ids = [r["id"] for r in rows]
    if task == "classification":
        unique, where = _unique_in_length_order([r["text"] for r in rows])
        return Work(task, ids, list(labels), _chunks(unique, CHUNK), where)
    if task == "ranking":
        from trainers.reranker.predict import length_order, query_pairs

        pairs, slots = query_pairs(rows, products or {})
        order = length_order(pairs)  # CHUNK is a multiple of the scorer's batch: the same batches
        units = _chunks([list(pairs[i]) for i in order], CHUNK)
        return Work(task, ids, list(labels), units, (list(rows), slots, order))
    return Work(task, ids, list(labels), _chunks(list(rows), GENERATION_CHUNK), None)


def run_unit(predictor: Any, task: str, labels: Sequence[str], unit: list[Any]) -> Any:
    """Predict one unit with a loaded model: probabilities, pair scores or generated answers."""
    if task == "classification":
        return _probabilities(predictor, unit, labels)
    if task == "ranking":
        return predictor.score([tuple(pair) for pair in unit], batch_size=64)
    return [
        {"output": o["output"], "tool_calls": o.get("tool_calls") or []}
        for o in predictor.predict_examples(unit)
    ]


def assemble(work: Work, outputs: Sequence[Any]) -> Predictions:
    """The pass's predictions from its units' outputs (in unit order)."""
    if work.task == "classification":
        parts = [np.asarray(o, dtype=np.float64).reshape(-1, len(work.labels)) for o in outputs]
        proba = np.concatenate(parts) if parts else np.empty((0, len(work.labels)))
        return from_probabilities(work.ids, proba[work.rebuild], work.labels)
    if work.task == "ranking":
        from trainers.reranker.predict import scores_by_query

        rows, slots, order = work.rebuild
        ordered = [float(x) for o in outputs for x in o]
        scores = np.empty(len(order), dtype=np.float64)
        scores[order] = ordered
        by_query = scores_by_query(rows, slots, scores)
        return Predictions(work.ids, [by_query[i] for i in work.ids])
    return Predictions(work.ids, [answer for o in outputs for answer in o])


def _probabilities(predictor: Any, texts: list[str], labels: Sequence[str]) -> np.ndarray:
    if set(predictor.labels) != set(labels):
        raise ValidationFailed(
            f"the model's labels {sorted(predictor.labels)} differ from the evalset's {sorted(labels)}",
            field="artifact_uri",
        )
    columns = [list(predictor.labels).index(label) for label in labels]  # into the evalset's label order
    return predictor.predict_proba(texts, batch_size=64)[:, columns]


def run_units(predictor: Any, work: Work, progress: Tick) -> list[Any]:
    """Every unit here, one after the other, with the inputs done so far after each."""
    outputs, done, total = [], 0, sum(work.sizes)
    for unit in work.units:
        outputs.append(run_unit(predictor, work.task, work.labels, unit))
        done += len(unit)
        progress(done, total)
    return outputs


def predict_rows(
    predictor: Any,
    task: str,
    rows: Sequence[dict[str, Any]],
    *,
    labels: Sequence[str],
    progress: Tick,
    products: Mapping[str, Any] | None = None,
) -> Predictions:
    """Predict every row in this process."""
    work = split(task, rows, labels=labels, products=products)
    return assemble(work, run_units(predictor, work, progress))


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
