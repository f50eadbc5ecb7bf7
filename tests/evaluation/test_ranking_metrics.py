"""Ranking metrics against hand arithmetic and scikit-learn; IPS/SNIPS against a known-truth simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import ndcg_score

from gatekeeper.evaluation.metrics.ranking import (
    counterfactual_report,
    dcg_at_k,
    ips_estimate,
    logging_ctr,
    mrr,
    ndcg_at_k,
    per_query_metrics,
    rank_by_score,
    ranking_report,
    recall_at_k,
    reciprocal_rank,
    snips_estimate,
    top1,
)

# ---------------------------------------------------------------------------------------------
# hand-computed cases


def test_dcg_and_ndcg_by_hand() -> None:
    ranked = [3, 2, 3, 0, 1, 2]
    # gains 2^rel - 1 = 7, 3, 7, 0, 1, 3; discounts 1/log2(rank + 1)
    dcg = 7 / 1 + 3 / math.log2(3) + 7 / 2 + 0 / math.log2(5) + 1 / math.log2(6) + 3 / math.log2(7)
    # ideal order 3, 3, 2, 2, 1, 0
    idcg = 7 / 1 + 7 / math.log2(3) + 3 / 2 + 3 / math.log2(5) + 1 / math.log2(6) + 0
    assert dcg_at_k(ranked, k=6) == pytest.approx(dcg)
    assert ndcg_at_k(ranked, k=6) == pytest.approx(dcg / idcg)
    assert ndcg_at_k(ranked, k=6) == pytest.approx(0.94881, abs=1e-5)
    # k = 3 cuts both the ranking and the ideal
    assert ndcg_at_k(ranked, k=3) == pytest.approx(
        (7 + 3 / math.log2(3) + 7 / 2) / (7 + 7 / math.log2(3) + 3 / 2)
    )
    # a relevant item ranked second of two: 1/log2(3)
    assert ndcg_at_k([0, 1], k=10) == pytest.approx(1 / math.log2(3))
    assert ndcg_at_k([2, 1, 0]) == 1.0


def test_ndcg_ideal_comes_from_all_judged_candidates() -> None:
    # Only the top 2 were ranked, but a grade-3 item exists among the candidates: the ideal includes it.
    assert ndcg_at_k([1, 0], k=2, ideal_relevances=[1, 0, 3]) == pytest.approx(1 / (7 + 1 / math.log2(3)))
    assert ndcg_at_k([0, 0, 0]) == 0.0  # no relevant item: 0, as scikit-learn


def test_reciprocal_rank_mrr_and_recall_by_hand() -> None:
    assert reciprocal_rank([0, 0, 1]) == pytest.approx(1 / 3)
    assert reciprocal_rank([0, 1, 2], threshold=2) == pytest.approx(1 / 3)
    assert reciprocal_rank([0, 0]) == 0.0
    # (1/3 + 1/1 + 0) / 3
    assert mrr([[0, 0, 1], [2, 0], [0, 0, 0]]) == pytest.approx(4 / 9)
    # 3 relevant items (grades 1, 2, 3); the top 2 hold one of them
    assert recall_at_k([1, 0, 2, 0, 3], k=2) == pytest.approx(1 / 3)
    assert recall_at_k([1, 0, 2, 0, 3], k=5) == 1.0
    # with threshold 2 only grades 2 and 3 count: top 3 holds one of two
    assert recall_at_k([1, 0, 2, 0, 3], k=3, threshold=2) == pytest.approx(1 / 2)
    # a relevant candidate the ranking left out still counts in the denominator
    assert recall_at_k([1, 0], k=2, ideal_relevances=[1, 0, 2]) == pytest.approx(1 / 2)
    with pytest.raises(ValueError):
        mrr([])
    with pytest.raises(ValueError):
        ndcg_at_k([1, 2], k=0)
    with pytest.raises(ValueError):
        ndcg_at_k([1, -1])


def test_ties_break_by_doc_id() -> None:
    assert rank_by_score({"b": 1.0, "a": 1.0, "c": 2.0, "d": 0.5}) == ["c", "a", "b", "d"]
    assert top1({"q1": {"z": 0.0, "y": 0.0}, "q2": {"m": 1.0, "n": 3.0}}) == {"q1": "y", "q2": "n"}
    with pytest.raises(ValueError):
        rank_by_score({"a": float("nan")})


# ---------------------------------------------------------------------------------------------
# scikit-learn agreement


def _random_queries(n: int, seed: int) -> tuple[list[dict], dict[str, dict[str, float]]]:
    rng = np.random.default_rng(seed)
    queries, scores = [], {}
    for i in range(n):
        size = int(rng.integers(3, 30))
        grades = rng.integers(0, 4, size=size)
        grades[rng.integers(size)] = max(1, grades.max())  # at least one relevant
        docs = [f"d{j:03d}" for j in range(size)]
        queries.append(
            {
                "id": f"q{i}",
                "candidates": [{"doc_id": d, "relevance": int(g)} for d, g in zip(docs, grades, strict=True)],
            }
        )
        scores[f"q{i}"] = {
            d: float(s) for d, s in zip(docs, rng.permutation(size) + rng.random(size) * 0.1, strict=True)
        }
    return queries, scores


@pytest.mark.parametrize("k", [1, 3, 5, 10, 50])
def test_ndcg_matches_sklearn_with_exponential_gains(k: int) -> None:
    queries, scores = _random_queries(60, seed=k)
    ids, per_query = per_query_metrics(queries, scores, k_values=(k,))
    for qid, ours in zip(ids, per_query[f"ndcg@{k}"], strict=True):
        query = next(q for q in queries if q["id"] == qid)
        docs = [c["doc_id"] for c in query["candidates"]]
        gains = np.array([[2.0 ** c["relevance"] - 1 for c in query["candidates"]]])
        s = np.array([[scores[qid][d] for d in docs]])
        assert ours == pytest.approx(ndcg_score(gains, s, k=k), abs=1e-12)
    # and the mean equals scikit-learn's mean over samples (each query alone: lengths differ)
    report = ranking_report(queries, scores, k_values=(k,))
    assert report["means"][f"ndcg@{k}"] == pytest.approx(float(np.mean(per_query[f"ndcg@{k}"])))


def test_ranking_report_shape_and_validation() -> None:
    queries = [
        {"id": "q1", "candidates": {"a": 3, "b": 0, "c": 1}},
        {"id": "q2", "candidates": [{"doc_id": "x", "relevance": 0}, {"doc_id": "y", "relevance": 2}]},
        {"id": "q3", "candidates": {"m": 0, "n": 0}},
    ]
    scores = {
        "q1": {"a": 0.1, "b": 0.9, "c": 0.5, "unjudged": 9.0},  # ranked b, c, a; the unjudged doc is ignored
        "q2": {"x": 1.0, "y": 1.0},  # tie: x before y by doc id
        "q3": {"m": 0.0, "n": 1.0},
    }
    report = ranking_report(queries, scores, k_values=(1, 2))
    assert report["n"] == 3 and report["n_without_relevant"] == 1
    assert report["per_query"]["ids"] == ["q1", "q2", "q3"]
    # q1 ranked grades [0, 1, 3]; q2 ranked [0, 2]; q3 all zero
    assert report["per_query"]["mrr"] == pytest.approx([1 / 2, 1 / 2, 0.0])
    assert report["means"]["mrr"] == pytest.approx(1 / 3)
    assert report["per_query"]["recall@1"] == [0.0, 0.0, 0.0]
    assert report["per_query"]["recall@2"] == pytest.approx([1 / 2, 1.0, 0.0])
    q1 = (1 / math.log2(3) + 7 / 2) / (7 + 1 / math.log2(3))
    q2 = (3 / math.log2(3)) / 3
    assert report["per_query"]["ndcg@10"] == pytest.approx([q1, q2, 0.0])
    assert set(report["means"]) == {"ndcg@1", "ndcg@2", "ndcg@10", "mrr", "recall@1", "recall@2"}
    with pytest.raises(ValueError, match="no score for 1 candidates"):
        ranking_report(queries, {**scores, "q1": {"a": 1.0, "b": 0.0}})
    with pytest.raises(ValueError, match="no scores for query"):
        ranking_report(queries, {"q1": scores["q1"]})


# ---------------------------------------------------------------------------------------------
# counterfactual estimators


def test_ips_snips_by_hand() -> None:
    logged = [
        {"id": "a", "logged_ranking": ["d1", "d2"], "propensity": 0.5, "clicked_doc_id": "d1"},  # w=2, click
        {"id": "b", "logged_ranking": ["d3"], "propensity": 0.25, "clicked_doc_id": None},  # w=4, no click
        {"id": "c", "logged_ranking": ["d4"], "propensity": 0.2, "clicked_doc_id": "d4"},  # not matched
        {"id": "d", "logged_top1": "d5", "propensity": 0.1, "clicked_doc_id": "d5"},  # w=10, click
    ]
    target = {"a": "d1", "b": "d3", "c": "d9", "d": "d5"}
    report = counterfactual_report(logged, target, n_resamples=200, seed=1)
    assert report["ips"]["value"] == pytest.approx((2 + 0 + 0 + 10) / 4)
    assert report["snips"]["value"] == pytest.approx(12 / 16)
    assert report["logging_ctr"]["value"] == pytest.approx(3 / 4)
    assert report["ips"]["matched"] == 3 and report["ips"]["n"] == 4
    assert report["match_rate"] == pytest.approx(3 / 4)
    assert report["effective_sample_size"] == pytest.approx(16**2 / (4 + 16 + 100))
    assert ips_estimate(logged, target, n_resamples=200, seed=1) == report["ips"]
    assert snips_estimate(logged, target, n_resamples=200, seed=1) == report["snips"]
    assert logging_ctr(logged, n_resamples=200, seed=1)["value"] == pytest.approx(3 / 4)
    # seeded: same seed, same interval
    assert counterfactual_report(logged, target, n_resamples=200, seed=1)["ips"]["ci"] == report["ips"]["ci"]
    # no impression matches: IPS is 0, SNIPS undefined
    none = counterfactual_report(logged, {"a": "x", "b": "x", "c": "x", "d": "x"}, n_resamples=50)
    assert none["ips"]["value"] == 0.0 and none["snips"]["value"] is None
    with pytest.raises(ValueError, match="no top-1"):
        counterfactual_report(logged, {"a": "d1"})
    with pytest.raises(ValueError, match="propensity"):
        counterfactual_report([{**logged[0], "propensity": 0.0}], target)


def _simulate(rng: np.random.Generator, ctr: np.ndarray, pi0: np.ndarray, n: int) -> list[dict]:
    """Log n impressions: context uniform, top item ~ pi0(.|x), click ~ Bernoulli(ctr[x, item])."""
    contexts = rng.integers(0, ctr.shape[0], size=n)
    # inverse-CDF draw of each impression's item from its context's pi0 row
    actions = (
        (rng.random(n)[:, None] > np.cumsum(pi0[contexts], axis=1)).sum(axis=1).clip(max=ctr.shape[1] - 1)
    )
    clicks = rng.random(n) < ctr[contexts, actions]
    return [
        {
            "id": f"i{i}",
            "x": int(x),
            "logged_ranking": [f"item{a}"],
            "propensity": float(pi0[x, a]),
            "clicked_doc_id": f"item{a}" if c else None,
        }
        for i, (x, a, c) in enumerate(zip(contexts, actions, clicks, strict=True))
    ]


def test_ips_and_snips_are_unbiased_cover_the_truth_and_snips_varies_less() -> None:
    world = np.random.default_rng(2026)
    n_contexts, n_items = 200, 5
    ctr = world.uniform(0.02, 0.6, size=(n_contexts, n_items))
    logits = world.normal(0.0, 1.0, size=(n_contexts, n_items))
    pi0 = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    # A deterministic target policy: the best item of each context. Its true top-slot CTR is analytic.
    best = ctr.argmax(axis=1)
    truth = float(ctr[np.arange(n_contexts), best].mean())
    logging_truth = float((pi0 * ctr).sum(axis=1).mean())

    ips, snips, ips_cover, snips_cover, log_cover = [], [], 0, 0, 0
    reps = 30
    for rep in range(reps):
        logged = _simulate(np.random.default_rng(rep), ctr, pi0, n=2000)
        target = {row["id"]: f"item{best[row['x']]}" for row in logged}
        report = counterfactual_report(logged, target, n_resamples=400, seed=rep)
        ips.append(report["ips"]["value"])
        snips.append(report["snips"]["value"])
        ips_cover += report["ips"]["ci"][0] <= truth <= report["ips"]["ci"][1]
        snips_cover += report["snips"]["ci"][0] <= truth <= report["snips"]["ci"][1]
        log_cover += report["logging_ctr"]["ci"][0] <= logging_truth <= report["logging_ctr"]["ci"][1]
    ips_arr, snips_arr = np.array(ips), np.array(snips)
    # unbiased: the mean over repetitions sits within 3 standard errors of the truth
    assert abs(ips_arr.mean() - truth) < 3 * ips_arr.std(ddof=1) / math.sqrt(reps)
    assert abs(snips_arr.mean() - truth) < 0.01
    assert ips_cover >= 0.85 * reps and snips_cover >= 0.85 * reps and log_cover >= 0.85 * reps
    assert snips_arr.std(ddof=1) < ips_arr.std(ddof=1)
    # the target policy is genuinely better than the logging policy, and the estimates see it
    assert truth > logging_truth + 0.1 and ips_arr.mean() > logging_truth + 0.1
