"""How well "need N" predicts the sample size that decides a non-inferiority comparison (issue 15).

Under-powered pilots of paired per-example differences in {-1, 0, +1} (P = 0.06 / 0.86 / 0.08: the
candidate is better by 0.02, tolerance 0) are bootstrapped; ``samples_to_decide`` predicts N from each
pilot's CI. Samples of N drawn from the pilot's own distribution (same effect, same spread) are then
bootstrapped again: the printed ratio is their median lower half-width over the pilot's margin (1.0 =
the prediction is exact; below 1 the comparison is decided at N), and the share of draws decided at N
and at N / 2.

    python benchmarks/need_n.py [--pilots 20] [--draws 20] [--pilot-n 400]
"""

from __future__ import annotations

import argparse

import numpy as np

from gatekeeper.evaluation.stats import paired_bootstrap_mean, samples_to_decide

VALUES, PROBS = np.array([-1.0, 0.0, 1.0]), np.array([0.06, 0.86, 0.08])


def _ci(diffs: np.ndarray, seed: int) -> tuple[float, float, float]:
    c = paired_bootstrap_mean(diffs, np.zeros_like(diffs), n_resamples=1000, seed=seed)
    assert c.ci_low is not None and c.ci_high is not None
    return c.delta, c.ci_low, c.ci_high


def _pilot(rng: np.random.Generator, n: int, seed: int) -> tuple[np.ndarray, float, int] | None:
    """An under-powered pilot (its CI straddles 0 with the point estimate above) and its predicted N."""
    pilot = rng.choice(VALUES, size=n, p=PROBS)
    delta, low, high = _ci(pilot, seed)
    if not low < 0 < delta:
        return None
    predicted = samples_to_decide(n=n, estimate=delta, bound=0.0, ci_low=low, ci_high=high)
    return (pilot, delta, predicted) if predicted else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pilots", type=int, default=20)
    parser.add_argument("--draws", type=int, default=20)
    parser.add_argument("--pilot-n", type=int, default=400)
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    ratios, decided, decided_half = [], [], []
    for p in range(args.pilots):
        found = _pilot(rng, args.pilot_n, p)
        if found is None:
            continue
        pilot, margin, n = found
        values, counts = np.unique(pilot, return_counts=True)
        probs = counts / counts.sum()
        at_n = [_ci(rng.choice(values, size=n, p=probs), s) for s in range(args.draws)]
        at_half = [_ci(rng.choice(values, size=n // 2, p=probs), s) for s in range(args.draws)]
        ratios.append(float(np.median([(d - low) / margin for d, low, _ in at_n])))
        decided.append(np.mean([low > 0 for _, low, _ in at_n]))
        decided_half.append(np.mean([low > 0 for _, low, _ in at_half]))
    print(f"{len(ratios)} under-powered pilots of {args.pilot_n}, {args.draws} draws each at N and N/2")
    lo, med, hi = np.percentile(ratios, [0, 50, 100])
    print(f"median half-width at N / margin: median {med:.3f} (range {lo:.3f} to {hi:.3f})")
    print(f"share of draws decided at N: {np.mean(decided):.2f}; at N / 2: {np.mean(decided_half):.2f}")


if __name__ == "__main__":
    main()
