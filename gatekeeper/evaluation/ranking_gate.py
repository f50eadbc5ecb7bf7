"""The five modes for rankers (the reranker): NDCG@10 / MRR / recall@k per query, paired with the
champion; slices and adversarial on per-query NDCG; counterfactual replay by IPS and SNIPS of the
click-through of the ranker's top result, against what the logging (champion) policy achieved."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from gatekeeper.evaluation import stats
from gatekeeper.evaluation.evalset import EvalSet
from gatekeeper.evaluation.gate import SCHEMA_VERSION
from gatekeeper.evaluation.metrics.ranking import (
    counterfactual_report,
    per_query_metrics,
    ranking_report,
    top1,
)
from gatekeeper.evaluation.modes.adversarial import adversarial_table
from gatekeeper.evaluation.modes.correlation import correlation_mode
from gatekeeper.evaluation.modes.slices import slice_table
from gatekeeper.evaluation.predictions import Predictions
from gatekeeper.policy.schema import Policy

COMPARED = ("ndcg@10", "mrr", "recall@5")


def _scores(rows: Sequence[Mapping[str, Any]], preds: Predictions) -> dict[str, dict[str, float]]:
    return {r["id"]: preds.get(r["id"]) for r in rows}


def _per_query(rows: Sequence[Mapping[str, Any]], preds: Predictions, metric: str = "ndcg@10") -> np.ndarray:
    _, table = per_query_metrics(rows, _scores(rows, preds))
    return table[metric]


def _report(rows: Sequence[Mapping[str, Any]], preds: Predictions) -> dict[str, Any]:
    report = ranking_report(rows, _scores(rows, preds))
    return {
        **report["means"],
        "n": report["n"],
        "n_without_relevant": report["n_without_relevant"],
        "per_query": report["per_query"],
    }


def _golden(
    rows: Sequence[Mapping[str, Any]],
    cand: Predictions,
    champ: Predictions | None,
    *,
    latency_ms: Sequence[float] | None,
    n_resamples: int,
    seed: int,
) -> dict[str, Any]:
    from gatekeeper.evaluation.metrics.classification import latency_summary

    out: dict[str, Any] = {
        "n": len(rows),
        "candidate": _report(rows, cand),
        "champion": _report(rows, champ) if champ else None,
        "latency": latency_summary(latency_ms) if latency_ms else None,
    }
    _, cand_table = per_query_metrics(rows, _scores(rows, cand))
    if champ is None:
        out["intervals"] = {
            m: stats.bootstrap_mean_ci(cand_table[m], metric=m, n_resamples=n_resamples, seed=seed).to_dict()
            for m in COMPARED
        }
        return out
    _, champ_table = per_query_metrics(rows, _scores(rows, champ))
    out["comparisons"] = {
        m: stats.paired_bootstrap_mean(
            cand_table[m], champ_table[m], metric=m, n_resamples=n_resamples, seed=seed + i
        ).to_dict()
        for i, m in enumerate(COMPARED)
    }
    return out


def _adversarial(
    evalset: EvalSet, cand: Predictions, champ: Predictions | None, *, n_resamples: int, seed: int
) -> dict[str, Any] | None:
    rows = [r for r in evalset.examples("adversarial") if r.get("source_id") in cand]
    if not rows:
        return None

    def flips(preds: Predictions) -> np.ndarray:
        tops = top1({r["id"]: preds.get(r["id"]) for r in rows})
        srcs = top1({r["source_id"]: preds.get(r["source_id"]) for r in rows})
        return np.array([tops[r["id"]] != srcs[r["source_id"]] for r in rows], dtype=float)

    cand_top = top1(_scores(rows, cand))
    describe = [
        {
            "id": r["id"],
            "perturbation": r.get("perturbation"),
            "text": r["query"],
            "source_id": r["source_id"],
            "candidate": cand_top[r["id"]],
        }
        for r in rows
    ]
    return adversarial_table(
        rows,
        1.0 - _per_query(rows, cand),
        None if champ is None else 1.0 - _per_query(rows, champ),
        flips(cand),
        None if champ is None else flips(champ),
        describe=describe,
        n_resamples=n_resamples,
        seed=seed,
    )


def _replay(
    rows: Sequence[Mapping[str, Any]], cand: Predictions, *, n_resamples: int, seed: int
) -> dict[str, Any]:
    """IPS/SNIPS click-through of the candidate's top result, and the logging policy's own CTR."""
    report = counterfactual_report(rows, top1(_scores(rows, cand)), n_resamples=n_resamples, seed=seed)
    snips, logged = report["snips"], report["logging_ctr"]
    quality = None
    if snips["value"] is not None:
        quality = {
            "metric": "top1_ctr",
            "candidate": snips["value"],
            "champion": logged["value"],
            "delta": snips["value"] - logged["value"],
            "ci_low": None,
            "ci_high": None,
            "p_value": None,
            "candidate_ci": snips["ci"],
            "champion_ci": logged["ci"],
            "n": report["ips"]["n"],
        }
    return {
        "n_sessions": len(rows),
        "n_labelled": report["ips"]["matched"],
        "quality": quality,
        "counterfactual": report,
        "cost": None,
        "cost_change_relative": None,
        "changed_rate": 1.0 - report["match_rate"],
        "rescued": 0,
        "broken": 0,
    }


def ranking_results(
    evalset: EvalSet,
    candidate: Predictions,
    champion: Predictions | None,
    policy: Policy,
    *,
    latency_ms: Sequence[float] | None,
    correlation_pairs: Sequence[dict[str, Any]],
    n_resamples: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    results: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "task": "ranking",
        "first_model": champion is None,
        "golden": _golden(
            evalset.examples("golden"),
            candidate,
            champion,
            latency_ms=latency_ms,
            n_resamples=n_resamples,
            seed=seed,
        ),
        "correlation": correlation_mode(correlation_pairs, online_metric=policy.correlation.online_metric),
    }
    holdout = evalset.examples("holdout")
    if holdout:
        results["slices"] = slice_table(
            holdout,
            _per_query(holdout, candidate),
            None if champion is None else _per_query(holdout, champion),
            dimensions=[d for d in policy.slices.dimensions if d != "intent"],
            intersections=policy.slices.intersections,
            min_support=policy.slices.min_support,
            n_resamples=n_resamples,
            seed=seed + 1,
            metric="ndcg@10",
        )
    results["adversarial"] = _adversarial(
        evalset, candidate, champion, n_resamples=n_resamples, seed=seed + 2
    )
    replay = evalset.examples("replay")
    if replay:
        results["replay"] = _replay(replay, candidate, n_resamples=n_resamples, seed=seed + 3)
    return results
