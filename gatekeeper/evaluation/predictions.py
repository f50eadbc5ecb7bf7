"""Per-example predictions of one model (the cache stores them as columns: ``columnar.py``; submitted
files are parsed and checked in ``submitted.py``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

TOP_K = 3
Row = list[tuple[str, float]]  # one example's top-k: (label, probability), most likely first


@dataclass(frozen=True, eq=False)
class TopK(Sequence[Row]):
    """Every example's top-k kept as arrays: ``codes`` (n, k) into ``vocab`` (-1 pads a shorter row) and
    ``probs`` (n, k). The statistics never read it and the example browser reads a few rows, so rows
    become Python lists only when one is asked for."""

    codes: np.ndarray
    probs: np.ndarray
    vocab: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.codes.shape[0])

    def __getitem__(self, i: int) -> Row:  # type: ignore[override]
        codes, probs = self.codes[i].tolist(), self.probs[i].tolist()
        return [(self.vocab[c], p) for c, p in zip(codes, probs, strict=True) if c >= 0]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    def take(self, rows: Sequence[int]) -> TopK:
        return TopK(self.codes[rows], self.probs[rows], self.vocab)

    @classmethod
    def concat(cls, parts: Sequence[TopK]) -> TopK:
        """One table from several, their codes moved into one shared vocabulary."""
        vocab: dict[str, int] = {}
        codes = []
        for part in parts:
            remap = np.array([vocab.setdefault(v, len(vocab)) for v in part.vocab] + [-1], dtype=np.int32)
            codes.append(remap[part.codes])  # -1 (a pad) indexes the trailing -1
        width = max((c.shape[1] for c in codes), default=0)
        pad = lambda a, fill: np.pad(a, ((0, 0), (0, width - a.shape[1])), constant_values=fill)  # noqa: E731
        return cls(
            np.concatenate([pad(c, -1) for c in codes]) if codes else np.zeros((0, 0), np.int32),
            np.concatenate([pad(p.probs, np.nan) for p in parts]) if parts else np.zeros((0, 0)),
            tuple(vocab),
        )


def _take(values: Sequence[Any], rows: list[int]) -> Sequence[Any]:
    if not values:
        return []
    return values.take(rows) if isinstance(values, TopK) else list(map(values.__getitem__, rows))


def _joined(parts: list[Sequence[Row]]) -> Sequence[Row]:
    present = [p for p in parts if p]
    if present and all(isinstance(p, TopK) for p in present):
        return TopK.concat(present)  # type: ignore[arg-type]
    return [row for part in present for row in part]


@dataclass
class Predictions:
    """One model's outputs keyed by example id. ``output`` is task-shaped: a label (classification),
    ``{doc_id: score}`` (ranking) or ``{"output", "tool_calls"}`` (generation)."""

    ids: list[str]
    output: list[Any]
    confidence: list[float | None] = field(default_factory=list)
    topk: Sequence[Row] = field(default_factory=list)
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
        return list(map(self.output.__getitem__, map(self._index.__getitem__, ids)))

    def confidences_for(self, ids: Sequence[str]) -> np.ndarray | None:
        if not self.confidence or any(c is None for c in self.confidence):
            return None
        return np.array([self.confidence[self._index[i]] for i in ids], dtype=float)

    def subset(self, ids: Iterable[str]) -> Predictions:
        picked = list(map(self._index.__getitem__, ids))
        return Predictions(
            list(map(self.ids.__getitem__, picked)),
            list(_take(self.output, picked)),
            list(_take(self.confidence, picked)),
            _take(self.topk, picked),
            list(_take(self.latency_ms, picked)),
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
        merged, topks = cls([], [], [], [], []), []
        for part in parts:
            merged.ids += part.ids
            merged.output += part.output
            merged.confidence += part.confidence
            topks.append(part.topk)
            merged.latency_ms += part.latency_ms
        merged.topk = _joined(topks)
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
