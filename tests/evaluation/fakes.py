"""A task and an evalset small enough to compute every mode's figures by hand."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np


@dataclass(frozen=True)
class Model:
    """A model seen through its columns: a score and an answer per example id."""

    score: Mapping[str, float]
    answer: Mapping[str, Any]


@dataclass
class HandTask:
    candidate: Model
    champion: Model | None
    name: ClassVar[str] = "hand"
    slice_metric: ClassVar[str] = "accuracy"
    calls: list[tuple[str, int]] = field(default_factory=list)  # (what, seed) each mode asked for

    def slice_dimensions(self, dimensions: Sequence[str]) -> list[str]:
        return list(dimensions)

    def golden(self, rows: Any, *, latency_ms: Any, n_resamples: int, seed: int) -> dict[str, Any]:
        self.calls.append(("golden", seed))
        return {"n": len(rows)}

    def scores(self, rows: Any, model: Model) -> np.ndarray:
        return np.array([model.score[r["id"]] for r in rows], dtype=float)

    def answers(self, ids: Sequence[str], model: Model) -> list[Any]:
        return [model.answer[i] for i in ids]

    def covers(self, example_id: str | None) -> bool:
        return example_id in self.candidate.answer

    def describe(self, rows: Any) -> list[dict[str, Any]]:
        return [{"id": r["id"]} for r in rows]

    def replay(self, rows: Any, *, n_resamples: int, seed: int) -> dict[str, Any]:
        self.calls.append(("replay", seed))
        return {"n_sessions": len(rows)}


@dataclass
class HandEvalSet:
    rows: Mapping[str, list[dict[str, Any]]]

    def examples(self, role: str) -> list[dict[str, Any]]:
        return list(self.rows.get(role, []))
