"""Mode 4, counterfactual replay: what the candidate would have done on logged production sessions,
against what the champion actually served. Tasks with a per-session outcome (classification, generation)
give paired columns (quality where the truth is known, and cost); rankers give an off-policy estimate of
the click-through of their top result (IPS/SNIPS, ``metrics.ranking.counterfactual_report``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from gatekeeper.evaluation import stats

UNHAPPY = ("escalated", "abandoned")


@dataclass(frozen=True)
class ReplayColumns:
    """One entry per logged session, candidate beside what was served."""

    candidate_ok: np.ndarray  # 1 where the candidate's answer is right (meaningful where labelled)
    served_ok: np.ndarray
    labelled: np.ndarray  # bool: the true answer arrived later
    candidate_cost: np.ndarray
    served_cost: np.ndarray
    changed: np.ndarray  # bool: the candidate would have answered differently
    unhappy: np.ndarray  # bool: the user escalated or abandoned
    quality_metric: str


def paired_replay(
    columns: ReplayColumns, *, n_resamples: int, quality_seed: int, cost_seed: int
) -> dict[str, Any]:
    """Quality on labelled sessions and cost per session, candidate vs served (paired bootstrap)."""
    c = columns
    labelled = c.labelled.astype(bool)
    cand_ok, served_ok = c.candidate_ok.astype(bool), c.served_ok.astype(bool)
    cost = stats.paired_bootstrap_mean(
        c.candidate_cost, c.served_cost, metric="cost_per_session", n_resamples=n_resamples, seed=cost_seed
    )
    quality = (
        stats.paired_bootstrap_mean(
            c.candidate_ok[labelled],
            c.served_ok[labelled],
            metric=c.quality_metric,
            n_resamples=n_resamples,
            seed=quality_seed,
        )
        if labelled.any()
        else None
    )
    return {
        "n_sessions": int(c.changed.size),
        "n_labelled": int(labelled.sum()),
        "changed_rate": float(np.mean(c.changed)) if c.changed.size else 0.0,
        "quality": quality.to_dict() if quality else None,
        "cost": cost.to_dict(),
        "cost_change_relative": (cost.delta / cost.champion) if cost.champion else None,
        # Of the sessions the champion got wrong and the user then escalated or abandoned, how many the
        # candidate would have got right; and the reverse.
        "rescued": int(np.sum(c.unhappy.astype(bool) & labelled & ~served_ok & cand_ok)),
        "broken": int(np.sum(labelled & served_ok & ~cand_ok)),
    }


def counterfactual_replay(report: Mapping[str, Any], n_sessions: int) -> dict[str, Any]:
    """A ranker's replay: SNIPS click-through of its top result against the logging policy's own CTR."""
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
        "n_sessions": n_sessions,
        "n_labelled": report["ips"]["matched"],
        "quality": quality,
        "counterfactual": report,
        "cost": None,
        "cost_change_relative": None,
        "changed_rate": 1.0 - report["match_rate"],
        "rescued": 0,
        "broken": 0,
    }
