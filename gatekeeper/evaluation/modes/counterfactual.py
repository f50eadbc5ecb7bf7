"""Mode 4, counterfactual replay: what the candidate would have done on logged production sessions,
against what the champion actually served (quality where the true label arrived later, and cost)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from gatekeeper.evaluation import stats
from gatekeeper.evaluation.predictions import Predictions


def classification_replay(
    rows: Sequence[dict[str, Any]],
    candidate: Predictions,
    *,
    route_costs: Mapping[str, float],
    n_resamples: int,
    seed: int,
) -> dict[str, Any]:
    """Routing quality on labelled sessions and cost per session, candidate vs served (logged) policy."""
    ids = [r["id"] for r in rows]
    cand = candidate.labels_for(ids)
    served = [r["served_label"] for r in rows]
    cand_cost = np.array([float(route_costs.get(label, 0.0)) for label in cand])
    served_cost = np.array([float(r["route_cost"]) for r in rows])
    cost = stats.paired_bootstrap_mean(
        cand_cost, served_cost, metric="cost_per_session", n_resamples=n_resamples, seed=seed
    )
    labelled = [i for i, r in enumerate(rows) if r.get("label") is not None]
    truth = [rows[i]["label"] for i in labelled]
    cand_ok = np.array([cand[i] == t for i, t in zip(labelled, truth, strict=True)], dtype=float)
    served_ok = np.array([served[i] == t for i, t in zip(labelled, truth, strict=True)], dtype=float)
    quality = (
        stats.paired_bootstrap_mean(
            cand_ok, served_ok, metric="routing_accuracy", n_resamples=n_resamples, seed=seed + 1
        )
        if labelled
        else None
    )
    unhappy = [i for i in labelled if rows[i].get("outcome") in ("escalated", "abandoned")]
    return {
        "n_sessions": len(rows),
        "n_labelled": len(labelled),
        "changed_rate": float(np.mean([c != s for c, s in zip(cand, served, strict=True)])) if rows else 0.0,
        "quality": quality.to_dict() if quality else None,
        "cost": cost.to_dict(),
        "cost_change_relative": (cost.delta / cost.champion) if cost.champion else None,
        # Of the sessions the champion misrouted and the user then escalated or abandoned, how many the
        # candidate would have routed right; and the reverse.
        "rescued": sum(1 for i in unhappy if served[i] != rows[i]["label"] and cand[i] == rows[i]["label"]),
        "broken": sum(1 for i in labelled if served[i] == rows[i]["label"] and cand[i] != rows[i]["label"]),
    }
