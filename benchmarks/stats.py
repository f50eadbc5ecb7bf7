"""Benchmark: gate metrics + paired bootstrap on 50K examples x 1,000 resamples (target <= 2 s on 2 cores).

Run: ``python benchmarks/stats.py``. Synthetic data: 10 intents with seed 003's class shares, a champion
at ~90% accuracy and a candidate that shares most of its errors (as retrained models do).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from gatekeeper.evaluation.metrics.classification import classification_report, latency_summary
from gatekeeper.evaluation.stats import compare_classification, paired_bootstrap_mean

SHARES = {
    "product_discovery": 22.1,
    "recommendation": 18.0,
    "product_question": 15.2,
    "order_tracking": 12.1,
    "faq": 8.0,
    "return_request": 7.0,
    "chitchat": 5.5,
    "promotion": 5.0,
    "checkout_help": 4.1,
    "escalation": 3.0,
}
LABELS = list(SHARES)
CRITICAL = ["escalation", "return_request", "checkout_help"]
N, RESAMPLES, TARGET_S = 50_000, 1_000, 2.0


def synthetic(seed: int = 0) -> dict[str, np.ndarray]:
    """Return truth, two correlated models' predictions and top-1 probabilities, and latencies."""
    rng = np.random.default_rng(seed)
    k = len(LABELS)
    shares = np.array(list(SHARES.values()))
    y = rng.choice(k, size=N, p=shares / shares.sum())
    hardness = rng.random(N)  # shared: the same examples are hard for both models
    neighbour = (y + rng.choice([-1, 1], N)) % k  # errors go to a neighbouring intent

    def model(accuracy: float, noise: float) -> tuple[np.ndarray, np.ndarray]:
        score = hardness + rng.normal(0, noise, N)
        correct = score < np.quantile(score, accuracy)
        pred = np.where(correct, y, neighbour)
        conf = np.clip(np.where(correct, 0.9, 0.6) + rng.normal(0, 0.1, N), 0.1, 1.0)
        return pred, conf

    champion, champion_conf = model(0.90, 0.10)
    candidate, candidate_conf = model(0.92, 0.10)
    return {
        "y": y,
        "champion": champion,
        "champion_conf": champion_conf,
        "candidate": candidate,
        "candidate_conf": candidate_conf,
        "latency": rng.gamma(4.0, 2.0, N),
    }


def timed(fn: Callable[[], object], repeats: int = 3) -> tuple[float, float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return times[0], min(times), result


def statistics(d: dict) -> dict:
    """The paired bootstrap of candidate against champion (accuracy, macro-F1, the critical recalls)."""
    return compare_classification(
        d["y"], d["candidate"], d["champion"], labels=LABELS, recall_of=CRITICAL, n_resamples=RESAMPLES
    )


def metrics_and_statistics(d: dict) -> dict:
    """Both models' classification reports, then the paired bootstrap: what an evaluation computes."""
    reports = {
        side: classification_report(
            d["y"],
            d[side],
            d[f"{side}_conf"],
            labels=LABELS,
            critical=CRITICAL,
            latencies_ms=d["latency"],
        )
        for side in ("candidate", "champion")
    }
    return {"reports": reports, "comparisons": statistics(d)}


def main() -> int:
    d = synthetic()
    first_s, best_s, _ = timed(lambda: statistics(d))
    first_all, best_all, result = timed(lambda: metrics_and_statistics(d))
    assert isinstance(result, dict)
    scores_first, scores_best, _ = timed(
        lambda: paired_bootstrap_mean(
            np.random.default_rng(1).random(N), np.random.default_rng(2).random(N), n_resamples=RESAMPLES
        )
    )

    print(f"{N:,} examples, {len(LABELS)} classes, {RESAMPLES:,} paired resamples")
    for c in result["comparisons"].values():
        print(
            f"  {c.metric:<24} cand {c.candidate:.4f}  champ {c.champion:.4f}  delta {c.delta:+.4f}"
            f"  95% CI [{c.ci_low:+.4f}, {c.ci_high:+.4f}]  p {c.p_value:.4f}"
        )
    print(f"  latency {latency_summary(d['latency'])}")
    print(f"paired bootstrap (acc, macro-F1, 3 recalls): first {first_s:.3f} s, best of 3 {best_s:.3f} s")
    print(f"reports x2 + paired bootstrap:              first {first_all:.3f} s, best of 3 {best_all:.3f} s")
    print(f"paired_bootstrap_mean, continuous scores:   first {scores_first:.3f} s, best {scores_best:.3f} s")
    ok = max(first_all, best_all) <= TARGET_S
    print(f"target <= {TARGET_S:g} s: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
