"""Classification (the intent router): a prediction is a label, an example's score is 1 when it is right."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from gatekeeper.evaluation.evalset import EvalSet
from gatekeeper.evaluation.modes.golden import classification_golden
from gatekeeper.evaluation.modes.replay import UNHAPPY, ReplayColumns, paired_replay
from gatekeeper.evaluation.predictions import Predictions
from gatekeeper.evaluation.tasks import Rows


def correct(rows: Rows, preds: Predictions) -> np.ndarray:
    """1 where the predicted label is the true one."""
    predicted = preds.labels_for([r["id"] for r in rows])
    return np.array([p == r["label"] for p, r in zip(predicted, rows, strict=True)], dtype=float)


def replay_columns(rows: Rows, candidate: Predictions, route_costs: Mapping[str, float]) -> ReplayColumns:
    """The candidate's route per logged session beside the served one, and what each route costs."""
    cand = candidate.labels_for([r["id"] for r in rows])
    served = [r["served_label"] for r in rows]
    truth = [r.get("label") for r in rows]
    return ReplayColumns(
        candidate_ok=np.array([c == t for c, t in zip(cand, truth, strict=True)], dtype=float),
        served_ok=np.array([s == t for s, t in zip(served, truth, strict=True)], dtype=float),
        labelled=np.array([t is not None for t in truth], dtype=bool),
        candidate_cost=np.array([float(route_costs.get(label, 0.0)) for label in cand]),
        served_cost=np.array([float(r["route_cost"]) for r in rows]),
        changed=np.array([c != s for c, s in zip(cand, served, strict=True)], dtype=bool),
        unhappy=np.array([r.get("outcome") in UNHAPPY for r in rows], dtype=bool),
        quality_metric="routing_accuracy",
    )


@dataclass(frozen=True)
class ClassificationTask:
    evalset: EvalSet
    candidate: Predictions
    champion: Predictions | None
    critical: list[str]
    name: ClassVar[str] = "classification"
    slice_metric: ClassVar[str] = "accuracy"

    def slice_dimensions(self, dimensions: Sequence[str]) -> list[str]:
        return list(dimensions)

    def golden(
        self, rows: Rows, *, latency_ms: Sequence[float] | None, n_resamples: int, seed: int
    ) -> dict[str, Any]:
        return classification_golden(
            rows,
            self.candidate,
            self.champion,
            labels=self.evalset.labels,
            critical=self.critical,
            latency_ms=latency_ms,
            n_resamples=n_resamples,
            seed=seed,
        )

    def scores(self, rows: Rows, model: Predictions) -> np.ndarray:
        return correct(rows, model)

    def answers(self, ids: Sequence[str], model: Predictions) -> list[Any]:
        return [model.get(i) for i in ids]

    def covers(self, example_id: str | None) -> bool:
        return example_id in self.candidate

    def describe(self, rows: Rows) -> list[dict[str, Any]]:
        sources = {r["id"]: r for f in ("golden", "holdout") for r in self.evalset.examples(f)}
        champ = self.champion
        return [
            {
                "id": r["id"],
                "perturbation": r.get("perturbation"),
                "text": r["text"],
                "label": r["label"],
                "source_id": r["source_id"],
                "source_text": sources.get(r["source_id"], {}).get("text"),
                "candidate": self.candidate.get(r["id"]),
                "candidate_on_source": self.candidate.get(r["source_id"]),
                "champion": champ.get(r["id"]) if champ else None,
            }
            for r in rows
        ]

    def replay(self, rows: Rows, *, n_resamples: int, seed: int) -> dict[str, Any]:
        columns = replay_columns(rows, self.candidate, self.evalset.manifest.get("route_costs", {}))
        return paired_replay(columns, n_resamples=n_resamples, quality_seed=seed + 1, cost_seed=seed)
