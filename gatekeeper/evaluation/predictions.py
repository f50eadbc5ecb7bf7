"""Per-example predictions of one model, in the columnar form the cache stores, and the validation
of predictions submitted for models that run elsewhere (every example id exactly once)."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gatekeeper.errors import ValidationFailed

TOP_K = 3
_SHOWN = 20  # ids listed in an error before "and N more"


@dataclass
class Predictions:
    """One model's outputs keyed by example id. ``output`` is task-shaped: a label (classification),
    ``{doc_id: score}`` (ranking) or ``{"output", "tool_calls"}`` (generation)."""

    ids: list[str]
    output: list[Any]
    confidence: list[float | None] = field(default_factory=list)
    topk: list[list[tuple[str, float]]] = field(default_factory=list)
    latency_ms: list[float | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._index = {ident: i for i, ident in enumerate(self.ids)}

    def __contains__(self, ident: str) -> bool:
        return ident in self._index

    def get(self, ident: str) -> Any:
        return self.output[self._index[ident]]

    def conf(self, ident: str) -> float | None:
        return self.confidence[self._index[ident]] if self.confidence else None

    def latency(self, ident: str) -> float | None:
        return self.latency_ms[self._index[ident]] if self.latency_ms else None

    def view(self, ident: str) -> dict[str, Any] | None:
        """What the example browser shows for one example, or None when it was not predicted."""
        if ident not in self._index:
            return None
        i = self._index[ident]
        return {
            "prediction": self.output[i],
            "confidence": self.confidence[i] if self.confidence else None,
            "topk": self.topk[i] if self.topk else [],
        }

    def labels_for(self, ids: Sequence[str]) -> list[Any]:
        return [self.output[self._index[i]] for i in ids]

    def confidences_for(self, ids: Sequence[str]) -> np.ndarray | None:
        if not self.confidence or any(c is None for c in self.confidence):
            return None
        return np.array([self.confidence[self._index[i]] for i in ids], dtype=float)

    def subset(self, ids: Iterable[str]) -> Predictions:
        picked = [self._index[i] for i in ids]
        pick = lambda values: [values[i] for i in picked] if values else []  # noqa: E731
        return Predictions(
            [self.ids[i] for i in picked],
            pick(self.output),
            pick(self.confidence),
            pick(self.topk),
            pick(self.latency_ms),
        )

    def to_payload(self) -> dict[str, Any]:
        return {
            "ids": self.ids,
            "output": self.output,
            "confidence": self.confidence,
            "topk": [[list(pair) for pair in row] for row in self.topk],
            "latency_ms": self.latency_ms,
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Predictions:
        return cls(
            list(payload["ids"]),
            list(payload["output"]),
            list(payload.get("confidence") or []),
            [[(str(a), float(b)) for a, b in row] for row in payload.get("topk") or []],
            list(payload.get("latency_ms") or []),
        )

    @classmethod
    def merge(cls, parts: Iterable[Predictions]) -> Predictions:
        merged = cls([], [], [], [], [])
        for part in parts:
            merged.ids += part.ids
            merged.output += part.output
            merged.confidence += part.confidence
            merged.topk += part.topk
            merged.latency_ms += part.latency_ms
        merged.__post_init__()
        return merged


def from_probabilities(
    ids: Sequence[str],
    proba: np.ndarray,
    labels: Sequence[str],
    latency_ms: Sequence[float | None] | None = None,
) -> Predictions:
    """Top-1 label, its confidence and the top-k table from an (n, K) probability matrix."""
    order = np.argsort(-proba, axis=1)[:, :TOP_K]
    return Predictions(
        ids=list(ids),
        output=[labels[row[0]] for row in order],
        confidence=[float(proba[i, row[0]]) for i, row in enumerate(order)],
        topk=[[(labels[j], round(float(proba[i, j]), 6)) for j in row] for i, row in enumerate(order)],
        latency_ms=list(latency_ms) if latency_ms is not None else [],
    )


# --- submitted predictions ----------------------------------------------------------------------


def _ids_problem(expected: set[str], seen: Counter[str]) -> dict[str, Any] | None:
    missing = sorted(expected - set(seen))
    extra = sorted(set(seen) - expected)
    duplicated = sorted(i for i, n in seen.items() if n > 1)
    if not (missing or extra or duplicated):
        return None
    return {
        "missing_ids": missing[:_SHOWN],
        "missing_count": len(missing),
        "extra_ids": extra[:_SHOWN],
        "extra_count": len(extra),
        "duplicate_ids": duplicated[:_SHOWN],
        "duplicate_count": len(duplicated),
    }


def _classification_line(row: Mapping[str, Any], labels: Sequence[str], line: int) -> tuple[str, float, list]:
    label = row.get("prediction")
    if label not in labels:
        raise ValidationFailed(
            f"line {line}: prediction {label!r} is not one of the target's labels",
            field="predictions.prediction",
            line=line,
        )
    probs = row.get("probabilities")
    if not isinstance(probs, Mapping) or not probs:
        raise ValidationFailed(
            f"line {line}: probabilities must be an object {{label: p}}",
            field="predictions.probabilities",
            line=line,
        )
    unknown = [k for k in probs if k not in labels]
    values = [probs[k] for k in probs]
    if unknown or not all(isinstance(v, int | float) and 0 <= v <= 1 for v in values):
        raise ValidationFailed(
            f"line {line}: probabilities need known labels and values in [0, 1]",
            field="predictions.probabilities",
            line=line,
            unknown_labels=unknown,
        )
    if not math.isclose(sum(values), 1.0, abs_tol=1e-3):
        raise ValidationFailed(
            f"line {line}: probabilities sum to {sum(values):.4f}, not 1",
            field="predictions.probabilities",
            line=line,
        )
    top = sorted(probs.items(), key=lambda kv: -kv[1])[:TOP_K]
    return label, float(probs[label]), [(str(k), float(v)) for k, v in top]


def parse_submitted(path: Path, *, task: str, expected_ids: set[str], labels: Sequence[str]) -> Predictions:
    """Read a predictions JSONL file; every evalset id exactly once, nothing else."""
    rows: list[tuple[int, dict[str, Any]]] = []
    with path.open(encoding="utf-8") as fh:
        for number, text in enumerate(fh, 1):
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValidationFailed(
                    f"line {number}: not valid JSON ({exc.msg})", field="predictions", line=number
                ) from None
            if not isinstance(row, dict) or not isinstance(row.get("id"), str):
                raise ValidationFailed(
                    f"line {number}: each line needs a string 'id'", field="predictions.id", line=number
                )
            rows.append((number, row))
    problem = _ids_problem(expected_ids, Counter(row["id"] for _, row in rows))
    if problem:
        raise ValidationFailed(
            f"predictions must cover every evalset example exactly once: {problem['missing_count']} missing, "
            f"{problem['extra_count']} unknown, {problem['duplicate_count']} duplicated",
            field="predictions",
            **problem,
        )
    return _build(rows, task=task, labels=labels)


def _build(rows: list[tuple[int, dict[str, Any]]], *, task: str, labels: Sequence[str]) -> Predictions:
    preds = Predictions([], [], [], [], [])
    for number, row in rows:
        preds.ids.append(row["id"])
        latency = row.get("latency_ms")
        preds.latency_ms.append(float(latency) if isinstance(latency, int | float) else None)
        if task == "classification":
            label, confidence, top = _classification_line(row, labels, number)
            preds.output.append(label)
            preds.confidence.append(confidence)
            preds.topk.append(top)
        elif task == "ranking":
            scores = row.get("scores")
            if not isinstance(scores, Mapping) or not all(
                isinstance(v, int | float) for v in scores.values()
            ):
                raise ValidationFailed(
                    f"line {number}: scores must be an object {{doc_id: number}}",
                    field="predictions.scores",
                    line=number,
                )
            preds.output.append({str(k): float(v) for k, v in scores.items()})
        else:
            if not isinstance(row.get("output"), str):
                raise ValidationFailed(
                    f"line {number}: output must be a string", field="predictions.output", line=number
                )
            calls = row.get("tool_calls") or []
            if not isinstance(calls, list):
                raise ValidationFailed(
                    f"line {number}: tool_calls must be a list", field="predictions.tool_calls", line=number
                )
            preds.output.append({"output": row["output"], "tool_calls": calls})
    if all(v is None for v in preds.latency_ms):
        preds.latency_ms = []
    preds.__post_init__()
    return preds
