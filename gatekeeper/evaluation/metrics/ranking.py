"""Ranking metrics for the offline gate and counterfactual click estimates for the replay mode.

Pure functions: plain values in, plain values (or numpy arrays) out; no I/O, no clock.

Conventions, fixed so every figure can be recomputed elsewhere:

- **Gain** is exponential, ``2**rel - 1``, with discount ``1 / log2(rank + 1)`` (rank from 1): a
  grade-3 item is worth 7 grade-1 items, which is what "exact volume beats same genre" means to a
  shopper. ``sklearn.metrics.ndcg_score`` agrees when given ``y_true = 2**rel - 1``.
- **Ideal DCG** comes from every judged candidate of the query (not only the ranked prefix); a
  query with no relevant candidate scores NDCG 0, recall 0 and reciprocal rank 0, as scikit-learn
  does, and ``ranking_report`` counts such queries in ``n_without_relevant``.
- **Relevant** means ``rel >= threshold`` (default 1) for MRR and recall@k.
- **Ties** in scores are broken by ascending ``doc_id``, so a model that outputs constant scores is
  ranked reproducibly (and gains nothing from the candidate order in a file).

Counterfactual replay (IPS/SNIPS). Each logged impression i records the item ``a_i`` the logging
policy put in the top slot, its propensity ``p_i = pi0(a_i | x_i)`` and whether that slot was clicked
(``c_i``). A new deterministic policy pi shows its top-1 ``pi(x_i)``; with ``w_i = 1[a_i = pi(x_i)] / p_i``
the estimates of its top-slot click-through are ``IPS = mean(w_i * c_i)`` (unbiased when every
``p_i > 0`` is the true logging probability) and ``SNIPS = sum(w_i * c_i) / sum(w_i)`` (slightly
biased, lower variance). Intervals are seeded percentile bootstraps over impressions, both estimators
computed on the same resamples.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gatekeeper.evaluation import resampling

__all__ = [
    "counterfactual_report",
    "dcg_at_k",
    "ips_estimate",
    "logging_ctr",
    "mrr",
    "ndcg_at_k",
    "per_query_metrics",
    "rank_by_score",
    "ranking_report",
    "recall_at_k",
    "reciprocal_rank",
    "snips_estimate",
    "top1",
]

DEFAULT_K_VALUES: tuple[int, ...] = (1, 5, 10)


def _grades(values: ArrayLike, name: str) -> NDArray[np.float64]:
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(arr)) or (arr.size and arr.min() < 0):
        raise ValueError(f"{name} must be finite and non-negative")
    return arr


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError("k must be at least 1")


def dcg_at_k(relevances_in_ranked_order: ArrayLike, k: int = 10) -> float:
    """Return DCG@k with exponential gain ``2**rel - 1`` and discount ``1 / log2(rank + 1)``."""
    _check_k(k)
    rel = _grades(relevances_in_ranked_order, "relevances")[:k]
    discounts = 1.0 / np.log2(np.arange(2, rel.size + 2))
    return float(np.sum((np.exp2(rel) - 1.0) * discounts))


def ndcg_at_k(
    relevances_in_ranked_order: ArrayLike, k: int = 10, ideal_relevances: ArrayLike | None = None
) -> float:
    """Return NDCG@k; the ideal ordering sorts ``ideal_relevances`` (default: the ranked list itself)."""
    ranked = _grades(relevances_in_ranked_order, "relevances")
    ideal = ranked if ideal_relevances is None else _grades(ideal_relevances, "ideal_relevances")
    idcg = dcg_at_k(np.sort(ideal)[::-1], k)
    return dcg_at_k(ranked, k) / idcg if idcg > 0 else 0.0


def reciprocal_rank(relevances_in_ranked_order: ArrayLike, threshold: float = 1) -> float:
    """Return 1 / rank of the first item with ``rel >= threshold``, or 0 when there is none."""
    hits = np.flatnonzero(_grades(relevances_in_ranked_order, "relevances") >= threshold)
    return 1.0 / (hits[0] + 1) if hits.size else 0.0


def mrr(rankings: Sequence[ArrayLike], threshold: float = 1) -> float:
    """Return the mean reciprocal rank over queries (each a relevance list in ranked order)."""
    if not rankings:
        raise ValueError("mrr needs at least one query")
    return float(np.mean([reciprocal_rank(r, threshold) for r in rankings]))


def recall_at_k(
    relevances_in_ranked_order: ArrayLike,
    k: int = 10,
    ideal_relevances: ArrayLike | None = None,
    threshold: float = 1,
) -> float:
    """Return the share of the query's relevant items (``rel >= threshold``) found in the top k."""
    _check_k(k)
    ranked = _grades(relevances_in_ranked_order, "relevances")
    ideal = ranked if ideal_relevances is None else _grades(ideal_relevances, "ideal_relevances")
    total = int(np.count_nonzero(ideal >= threshold))
    return float(np.count_nonzero(ranked[:k] >= threshold) / total) if total else 0.0


def rank_by_score(scores: Mapping[str, float]) -> list[str]:
    """Order doc ids by descending score, ties by ascending doc id; NaN scores are refused."""
    if any(not math.isfinite(float(s)) for s in scores.values()):
        raise ValueError("scores must be finite (no NaN or inf)")
    return sorted(scores, key=lambda doc: (-float(scores[doc]), doc))


def top1(scores: Mapping[str, Mapping[str, float]]) -> dict[str, str]:
    """Return each query's top-ranked doc id (ties as in ``rank_by_score``): the policy replay values."""
    out = {}
    for qid, doc_scores in scores.items():
        if not doc_scores:
            raise ValueError(f"query {qid!r} has no scored candidates")
        out[qid] = rank_by_score(doc_scores)[0]
    return out


def _judgements(query: Mapping[str, Any]) -> dict[str, float]:
    """Accept candidates as ``{doc_id: rel}`` or as the evalset's ``[{"doc_id", "relevance"}]``."""
    cands = query["candidates"]
    if isinstance(cands, Mapping):
        return {str(d): float(r) for d, r in cands.items()}
    return {str(c["doc_id"]): float(c["relevance"]) for c in cands}


def _metric_names(k_values: Sequence[int]) -> list[str]:
    ks = sorted({*k_values, 10})
    for k in ks:
        _check_k(k)
    return [*(f"ndcg@{k}" for k in ks), "mrr", *(f"recall@{k}" for k in sorted(set(k_values)))]


def per_query_metrics(
    queries: Sequence[Mapping[str, Any]],
    scores: Mapping[str, Mapping[str, float]],
    k_values: Sequence[int] = DEFAULT_K_VALUES,
    threshold: float = 1,
) -> tuple[list[str], dict[str, NDArray[np.float64]]]:
    """Return query ids and, per metric, an array aligned with them (the input to a paired bootstrap).

    Metrics: ``ndcg@k`` for each k and always ``ndcg@10``, ``mrr``, ``recall@k`` for each k. Every
    judged candidate needs a score; scores for unjudged doc ids are ignored.
    """
    names = _metric_names(k_values)
    ids: list[str] = []
    rows: list[list[float]] = []
    for query in queries:
        rows.append(_query_row(query, scores, names, threshold))
        ids.append(str(query["id"]))
    table = np.array(rows, dtype=np.float64).reshape(len(rows), len(names))
    return ids, {name: table[:, j] for j, name in enumerate(names)}


def _query_row(
    query: Mapping[str, Any], scores: Mapping[str, Mapping[str, float]], names: list[str], threshold: float
) -> list[float]:
    """One query's metrics, in ``names`` order, from the model's scores of its judged candidates."""
    qid = str(query["id"])
    judged = _judgements(query)
    if not judged:
        raise ValueError(f"query {qid!r} has no candidates")
    got = scores.get(qid)
    if got is None:
        raise ValueError(f"no scores for query {qid!r}")
    missing = [d for d in judged if d not in got]
    if missing:
        raise ValueError(f"query {qid!r}: no score for {len(missing)} candidates, e.g. {missing[0]!r}")
    order = rank_by_score({d: got[d] for d in judged})
    ranked = np.array([judged[d] for d in order])
    ideal = np.array(list(judged.values()))
    row = []
    for name in names:
        kind, _, k = name.partition("@")
        if kind == "ndcg":
            row.append(ndcg_at_k(ranked, int(k), ideal))
        elif kind == "recall":
            row.append(recall_at_k(ranked, int(k), ideal, threshold))
        else:
            row.append(reciprocal_rank(ranked, threshold))
    return row


def ranking_report(
    queries: Sequence[Mapping[str, Any]],
    scores: Mapping[str, Mapping[str, float]],
    k_values: Sequence[int] = DEFAULT_K_VALUES,
    threshold: float = 1,
) -> dict[str, Any]:
    """Compute NDCG@k, MRR and recall@k means with JSON-ready per-query lists (aligned with ``ids``)."""
    if not queries:
        raise ValueError("ranking_report needs at least one query")
    ids, per_query = per_query_metrics(queries, scores, k_values, threshold)
    without = sum(1 for q in queries if not any(r >= threshold for r in _judgements(q).values()))
    return {
        "n": len(ids),
        "n_without_relevant": without,
        "k_values": sorted(set(k_values)),
        "relevance_threshold": threshold,
        "gain": "exponential",
        "tie_break": "doc_id ascending",
        "means": {name: float(values.mean()) for name, values in per_query.items()},
        "per_query": {"ids": ids, **{name: values.tolist() for name, values in per_query.items()}},
    }


# --------------------------------------------------------------------------------------------------
# counterfactual replay


def _logged_arrays(
    logged: Sequence[Mapping[str, Any]], target_top1: Mapping[str, str]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Return per impression: clicked (0/1), propensity, and whether the target's top-1 was logged there."""
    if not logged:
        raise ValueError("no logged impressions")
    clicks, props, match = [], [], []
    for row in logged:
        rid = str(row["id"])
        shown = row["logged_top1"] if "logged_top1" in row else row["logged_ranking"][0]
        p = float(row["propensity"])
        if not (0.0 < p <= 1.0):
            raise ValueError(f"impression {rid!r}: propensity {p} outside (0, 1]")
        clicks.append(
            1.0 if row.get("clicked_doc_id") is not None and row["clicked_doc_id"] == shown else 0.0
        )
        props.append(p)
        if rid in target_top1:
            match.append(1.0 if target_top1[rid] == shown else 0.0)
        else:
            raise ValueError(f"the evaluated policy has no top-1 for impression {rid!r}")
    return np.array(clicks), np.array(props), np.array(match)


def _check_ci(n_resamples: int, ci: float) -> None:
    if n_resamples < 1:
        raise ValueError("n_resamples must be at least 1")
    if not 0.0 < ci < 1.0:
        raise ValueError("ci must be in (0, 1)")


def _bootstrap_sums(columns: NDArray[np.float64], n_resamples: int, seed: int) -> NDArray[np.float64]:
    """Return (B x c) column sums over B index resamples of the n rows of ``columns``."""
    return resampling.index_reductions(columns, n_resamples, seed, "sum")


def _interval(values: NDArray[np.float64], ci: float) -> list[float] | None:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return None
    alpha = 1.0 - ci
    low, high = np.quantile(finite, [alpha / 2.0, 1.0 - alpha / 2.0])
    return [float(low), float(high)]


def counterfactual_report(
    logged: Sequence[Mapping[str, Any]],
    target_top1: Mapping[str, str],
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
) -> dict[str, Any]:
    """Estimate the evaluated policy's top-slot CTR by IPS and SNIPS, next to the logging policy's own CTR.

    ``logged`` rows hold ``id``, ``logged_ranking`` (or ``logged_top1``), ``propensity`` and
    ``clicked_doc_id``; a click counts when it is on the logged top item. ``target_top1`` maps each
    impression id to the evaluated policy's top doc (see ``top1``). Also reports how many impressions
    match and the effective sample size ``(sum w)**2 / sum w**2``, the number of logged impressions the
    estimate is really worth.
    """
    _check_ci(n_resamples, ci)
    clicks, props, match = _logged_arrays(logged, target_top1)
    n = clicks.shape[0]
    w = match / props
    sum_w, sum_wc, sum_w2 = float(w.sum()), float((w * clicks).sum()), float((w * w).sum())
    boot = _bootstrap_sums(np.stack([w * clicks, w, clicks], axis=1), n_resamples, seed)
    with np.errstate(invalid="ignore", divide="ignore"):
        snips_boot = np.where(boot[:, 1] > 0, boot[:, 0] / boot[:, 1], np.nan)
    common = {"n": n, "matched": int(match.sum()), "n_resamples": n_resamples, "ci_level": ci, "seed": seed}
    return {
        "ips": {"value": sum_wc / n, "ci": _interval(boot[:, 0] / n, ci), **common},
        "snips": {"value": sum_wc / sum_w if sum_w > 0 else None, "ci": _interval(snips_boot, ci), **common},
        "logging_ctr": {"value": float(clicks.mean()), "ci": _interval(boot[:, 2] / n, ci), **common},
        "match_rate": float(match.mean()),
        "effective_sample_size": sum_w**2 / sum_w2 if sum_w2 > 0 else 0.0,
    }


Logged = Sequence[Mapping[str, Any]]


def _one_estimate(name: str, doc: str) -> Callable[..., dict[str, Any]]:
    """One estimate of ``counterfactual_report`` as a function of its own (IPS and SNIPS differ only here)."""

    def estimate(
        logged: Logged,
        target_top1: Mapping[str, str],
        *,
        n_resamples: int = 1000,
        seed: int = 0,
        ci: float = 0.95,
    ) -> dict[str, Any]:
        return counterfactual_report(logged, target_top1, n_resamples=n_resamples, seed=seed, ci=ci)[name]

    estimate.__name__ = estimate.__qualname__ = f"{name}_estimate"
    estimate.__doc__ = doc
    return estimate


ips_estimate = _one_estimate(
    "ips", "Return the IPS estimate ``{value, ci, n, matched, ...}`` of the evaluated policy's top-slot CTR."
)
snips_estimate = _one_estimate(
    "snips", "Return the SNIPS estimate (``value`` is None when no impression matches the evaluated policy)."
)


def logging_ctr(
    logged: Logged, *, n_resamples: int = 1000, seed: int = 0, ci: float = 0.95
) -> dict[str, Any]:
    """Return the logging policy's observed top-slot CTR with its bootstrap interval."""
    shown = {
        str(r["id"]): (r["logged_top1"] if "logged_top1" in r else r["logged_ranking"][0]) for r in logged
    }
    return counterfactual_report(logged, shown, n_resamples=n_resamples, seed=seed, ci=ci)["logging_ctr"]
