"""Drift hub throughput: one input + prediction pass over 1M logged predictions with 20 features.

Prints the wall time of ``compute_window`` (12 numeric + 8 categorical features, confidence KS,
predicted-class PSI and KL) against a reference profile, and ``target <= 10 s on 2 cores: PASS/FAIL``.
Building the profile is timed separately: it happens once per champion, not per window.

    python benchmarks/drift.py [--rows 1000000] [--ref-rows 200000]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import pandas as pd

from gatekeeper.drift.stats import ReferenceProfile, WindowResult, build_reference, compute_window

TARGET_S = 10.0
NUMERIC = [f"num_{i:02d}" for i in range(12)]
CATEGORICAL = {
    "lang": ["en", "ja", "mixed"],
    "device": ["mobile", "desktop", "tablet"],
    "catalog_tier": ["head", "mid", "long"],
    "cohort": ["new", "returning", "power"],
    "time_bucket": ["morning", "afternoon", "evening", "night"],
    "region": ["JP", "US", "EU", "APAC", "other"],
    "channel": ["app", "web", "line"],
    "genre": ["shonen", "shojo", "seinen", "josei", "isekai", "kodomo", "other"],
}
INTENTS = [
    "product_search", "order_status", "recommendation", "return_request", "escalation",
    "checkout_help", "faq", "promotion", "account", "chitchat",
]  # fmt: skip


def logged_predictions(rows: int, seed: int, drift: float) -> pd.DataFrame:
    """Synthetic prediction log; ``drift`` moves a third of the features and the intent mix."""
    rng = np.random.default_rng(seed)
    cols: dict[str, np.ndarray] = {}
    for i, name in enumerate(NUMERIC):
        shift = drift if i % 3 == 0 else 0.0
        cols[name] = rng.lognormal(1 + shift, 0.7, rows) if i % 2 else rng.normal(shift, 1 + i / 10, rows)
    for j, (name, values) in enumerate(CATEGORICAL.items()):
        p = np.linspace(2, 1, len(values)) if not (drift and j % 3 == 0) else np.linspace(1, 2, len(values))
        cols[name] = np.array(values, dtype=object)[rng.choice(len(values), rows, p=p / p.sum())]
    mix = np.linspace(3, 1, len(INTENTS)) ** (1 - drift / 2)
    cols["prediction"] = np.array(INTENTS, dtype=object)[rng.choice(len(INTENTS), rows, p=mix / mix.sum())]
    cols["confidence"] = rng.beta(8 - 2 * drift, 2, rows)
    return pd.DataFrame(cols)


def timed_profile(reference: pd.DataFrame) -> tuple[ReferenceProfile, float]:
    """The reference profile and the seconds it took to build."""
    t0 = time.perf_counter()
    profile = build_reference(
        reference,
        numeric_features=NUMERIC,
        categorical_features=list(CATEGORICAL),
        prediction_field="prediction",
        confidence_field="confidence",
    )
    return profile, time.perf_counter() - t0


def report(
    args: argparse.Namespace, result: WindowResult, build_s: float, size_kb: float, window_s: float
) -> None:
    drifted = sorted(f for f, d in result.features.items() if d.psi.value > 0.2)
    ks = result.prediction_ks
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"cores available: {cores}")
    print(
        f"reference profile: {args.ref_rows:,} rows, {len(result.features)} features, "
        f"built in {build_s:.2f} s, {size_kb:.0f} KiB as JSON"
    )
    print(f"window: {result.n:,} rows x {len(result.features)} features + confidence + predicted class")
    print(f"  features with PSI > 0.2: {len(drifted)} ({', '.join(drifted)}); max PSI {result.max_psi:.3f}")
    if ks is not None and result.prediction_psi is not None and result.prediction_kl is not None:
        print(
            f"  confidence KS {ks.statistic:.3f} (p={ks.p_value:.2g}); predicted-class PSI "
            f"{result.prediction_psi.value:.3f}; KL {result.prediction_kl:.4f} -> {result.kl_status}"
        )
    print(f"compute_window wall time: {window_s:.2f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--ref-rows", type=int, default=200_000)
    args = parser.parse_args(argv)

    reference = logged_predictions(args.ref_rows, seed=1, drift=0.0)
    current = logged_predictions(args.rows, seed=2, drift=0.3)
    profile, build_s = timed_profile(reference)
    size_kb = len(json.dumps(profile.to_dict())) / 1024
    t0 = time.perf_counter()
    result = compute_window(profile, current)
    window_s = time.perf_counter() - t0

    report(args, result, build_s, size_kb, window_s)
    ok = window_s <= TARGET_S
    print(f"target <= {TARGET_S:g} s on 2 cores: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
