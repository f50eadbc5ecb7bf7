"""Ranking (the reranker): a prediction is ``{doc_id: score}`` per query, an example's score is its
NDCG@10; golden also compares MRR and recall@5; replay estimates the click-through of the top result."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from gatekeeper.evaluation import stats
from gatekeeper.evaluation.metrics.classification import latency_summary
from gatekeeper.evaluation.metrics.ranking import (
    counterfactual_report,
    per_query_metrics,
    ranking_report,
    top1,
)
from gatekeeper.evaluation.modes.replay import counterfactual_replay
from gatekeeper.evaluation.predictions import Predictions
from gatekeeper.evaluation.tasks import Rows

COMPARED = ("ndcg@10", "mrr", "recall@5")


def _scores(rows: Rows, preds: Predictions) -> dict[str, dict[str, float]]:
    return {r["id"]: preds.get(r["id"]) for r in rows}


def per_query(rows: Rows, preds: Predictions, metric: str = "ndcg@10") -> np.ndarray:
    """One metric per query, in row order."""
    _, table = per_query_metrics(rows, _scores(rows, preds))
    return table[metric]


def _report(rows: Rows, preds: Predictions) -> dict[str, Any]:
    report = ranking_report(rows, _scores(rows, preds))
    return {
        **report["means"],
        "n": report["n"],
        "n_without_relevant": report["n_without_relevant"],
        "per_query": report["per_query"],
    }


def _intervals(rows: Rows, cand: Predictions, *, n_resamples: int, seed: int) -> dict[str, Any]:
    _, table = per_query_metrics(rows, _scores(rows, cand))
    return {
        m: stats.bootstrap_mean_ci(table[m], metric=m, n_resamples=n_resamples, seed=seed).to_dict()
        for m in COMPARED
    }


def _comparisons(
    rows: Rows, cand: Predictions, champ: Predictions, *, n_resamples: int, seed: int
) -> dict[str, Any]:
    _, cand_table = per_query_metrics(rows, _scores(rows, cand))
    _, champ_table = per_query_metrics(rows, _scores(rows, champ))
    return {
        m: stats.paired_bootstrap_mean(
            cand_table[m], champ_table[m], metric=m, n_resamples=n_resamples, seed=seed + i
        ).to_dict()
        for i, m in enumerate(COMPARED)
    }


@dataclass(frozen=True)
class RankingTask:
    candidate: Predictions
    champion: Predictions | None
    name: ClassVar[str] = "ranking"
    slice_metric: ClassVar[str] = "ndcg@10"

    def slice_dimensions(self, dimensions: Sequence[str]) -> list[str]:
        return [d for d in dimensions if d != "intent"]  # queries carry no intent label

    def golden(
        self, rows: Rows, *, latency_ms: Sequence[float] | None, n_resamples: int, seed: int
    ) -> dict[str, Any]:
        cand, champ = self.candidate, self.champion
        out: dict[str, Any] = {
            "n": len(rows),
            "candidate": _report(rows, cand),
            "champion": _report(rows, champ) if champ else None,
            "latency": latency_summary(latency_ms) if latency_ms else None,
        }
        if champ is None:
            out["intervals"] = _intervals(rows, cand, n_resamples=n_resamples, seed=seed)
        else:
            out["comparisons"] = _comparisons(rows, cand, champ, n_resamples=n_resamples, seed=seed)
        return out

    def scores(self, rows: Rows, model: Predictions) -> np.ndarray:
        return per_query(rows, model)

    def answers(self, ids: Sequence[str], model: Predictions) -> list[Any]:
        tops = top1({i: model.get(i) for i in ids})
        return [tops[i] for i in ids]

    def covers(self, example_id: str | None) -> bool:
        return example_id in self.candidate

    def describe(self, rows: Rows) -> list[dict[str, Any]]:
        tops = top1(_scores(rows, self.candidate))
        return [
            {
                "id": r["id"],
                "perturbation": r.get("perturbation"),
                "text": r["query"],
                "source_id": r["source_id"],
                "candidate": tops[r["id"]],
            }
            for r in rows
        ]

    def replay(self, rows: Rows, *, n_resamples: int, seed: int) -> dict[str, Any]:
        tops = top1(_scores(rows, self.candidate))
        report = counterfactual_report(rows, tops, n_resamples=n_resamples, seed=seed)
        return counterfactual_replay(report, len(rows))
