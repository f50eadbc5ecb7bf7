"""Tasks turn one model's predictions into per-example score columns; modes/ measure those columns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

Rows = Sequence[Mapping[str, Any]]


class Task(Protocol):
    """What every mode needs from a task: its columns, written once per task."""

    name: str
    slice_metric: str  # the name of the per-example score the slices compare
    candidate: Any
    champion: Any | None

    def slice_dimensions(self, dimensions: Sequence[str]) -> list[str]:
        """The policy's slice dimensions this task's examples carry."""
        ...

    def golden(
        self, rows: Rows, *, latency_ms: Sequence[float] | None, n_resamples: int, seed: int
    ) -> dict[str, Any]:
        """The contract metrics of both models on the golden set."""
        ...

    def scores(self, rows: Rows, model: Any) -> np.ndarray:
        """One score per example (higher is better, 1 is right), for slices and adversarial error."""
        ...

    def answers(self, ids: Sequence[str], model: Any) -> list[Any]:
        """What the model answered per example, compared between a perturbed example and its source."""
        ...

    def covers(self, example_id: str | None) -> bool:
        """Whether the candidate answered this example (adversarial rows need their source)."""
        ...

    def describe(self, rows: Rows) -> list[dict[str, Any]]:
        """What a reviewer sees for each adversarial example."""
        ...

    def replay(self, rows: Rows, *, n_resamples: int, seed: int) -> dict[str, Any]:
        """The replay mode over this task's logged sessions."""
        ...
