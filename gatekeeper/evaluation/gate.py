"""Compose the five modes into one results document (pure: predictions in, measurements out)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gatekeeper.evaluation.evalset import EvalSet
from gatekeeper.evaluation.modes.adversarial import adversarial_table
from gatekeeper.evaluation.modes.correlation import correlation_mode
from gatekeeper.evaluation.modes.counterfactual import classification_replay
from gatekeeper.evaluation.modes.golden import classification_golden
from gatekeeper.evaluation.modes.slices import slice_table
from gatekeeper.evaluation.predictions import Predictions
from gatekeeper.policy.schema import Policy

SCHEMA_VERSION = 1


def _correct(rows: Sequence[dict[str, Any]], preds: Predictions) -> np.ndarray:
    return np.array([preds.get(r["id"]) == r["label"] for r in rows], dtype=float)


def _adversarial(
    evalset: EvalSet, cand: Predictions, champ: Predictions | None, *, n_resamples: int, seed: int
) -> dict[str, Any] | None:
    rows = [r for r in evalset.examples("adversarial") if r.get("source_id") in cand]
    if not rows:
        return None
    sources = {r["id"]: r for f in ("golden", "holdout") for r in evalset.examples(f)}

    def flips(preds: Predictions) -> np.ndarray:
        return np.array([preds.get(r["id"]) != preds.get(r["source_id"]) for r in rows], dtype=float)

    describe = [
        {
            "id": r["id"],
            "perturbation": r.get("perturbation"),
            "text": r["text"],
            "label": r["label"],
            "source_id": r["source_id"],
            "source_text": sources.get(r["source_id"], {}).get("text"),
            "candidate": cand.get(r["id"]),
            "candidate_on_source": cand.get(r["source_id"]),
            "champion": champ.get(r["id"]) if champ else None,
        }
        for r in rows
    ]
    return adversarial_table(
        rows,
        1.0 - _correct(rows, cand),
        None if champ is None else 1.0 - _correct(rows, champ),
        flips(cand),
        None if champ is None else flips(champ),
        describe=describe,
        n_resamples=n_resamples,
        seed=seed,
    )


def classification_results(
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
    """Measurements of all five modes for a classification candidate (and its champion, if any)."""
    labels = evalset.labels
    results: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "task": "classification",
        "first_model": champion is None,
        "golden": classification_golden(
            evalset.examples("golden"),
            candidate,
            champion,
            labels=labels,
            critical=list(policy.golden.critical_classes),
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
            _correct(holdout, candidate),
            None if champion is None else _correct(holdout, champion),
            dimensions=policy.slices.dimensions,
            intersections=policy.slices.intersections,
            min_support=policy.slices.min_support,
            n_resamples=n_resamples,
            seed=seed + 1,
        )
    results["adversarial"] = _adversarial(
        evalset, candidate, champion, n_resamples=n_resamples, seed=seed + 2
    )
    replay = evalset.examples("replay")
    if replay:
        results["replay"] = classification_replay(
            replay,
            candidate,
            route_costs=evalset.manifest.get("route_costs", {}),
            n_resamples=n_resamples,
            seed=seed + 3,
        )
    return results
