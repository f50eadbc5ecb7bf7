"""The bootstrap's shards here and as Ray tasks (issue 19): a paired comparison of continuous
per-session scores (a day of replay, where the exact multinomial shortcut does not apply and every
resample draws n indices), 1,000 resamples, at a few sizes. Serial in this process, then on a local Ray
cluster of 1 and of 2 CPUs. Each figure is the median of ``--runs`` (min-max after it); every Ray run's
comparison is checked equal to the serial one, bit for bit, before its time counts.

    python benchmarks/bootstrap_shards.py [--sizes 100000,1000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import ray  # noqa: E402

from gatekeeper.config import Settings  # noqa: E402
from gatekeeper.evaluation import resampling, stats  # noqa: E402
from gatekeeper.evaluation.executors.ray import RayExecutor  # noqa: E402


def scores(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(n)
    champion = rng.gamma(2.0, 0.01, n)  # cost per session
    return champion * rng.normal(1.0, 0.05, n), champion


def timed(runs: int, body: Callable[[], Any]) -> tuple[list[float], Any]:
    seconds, out = [], None
    for _ in range(runs):
        started = time.perf_counter()
        out = body()
        seconds.append(time.perf_counter() - started)
    return seconds, out


def shown(seconds: list[float]) -> str:
    return f"{statistics.median(seconds):.2f} s ({min(seconds):.2f}-{max(seconds):.2f})"


def on_ray(cpus: int, sizes: list[int], runs: int, serial: dict[int, Any]) -> dict[int, list[float]]:
    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    try:
        executor, out = RayExecutor(Settings(database_url="sqlite://", executor="ray")), {}
        for n in sizes:
            cand, champ = scores(n)
            with resampling.sharded(executor.map_shards):
                out[n], result = timed(
                    runs, lambda c=cand, h=champ: stats.paired_bootstrap_mean(c, h, seed=1)
                )
            if result != serial[n]:
                raise SystemExit(f"Ray's comparison at n={n} differs from the serial one")
        return out
    finally:
        ray.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"{os.cpu_count()} CPUs; load average at the start: {os.getloadavg()}", flush=True)
    local, results = {}, {}
    for n in sizes:
        cand, champ = scores(n)
        local[n], results[n] = timed(
            args.runs, lambda c=cand, h=champ: stats.paired_bootstrap_mean(c, h, seed=1)
        )
        print(
            f"  serial n={n:,}: {shown(local[n])} in {len(resampling.layout(1000, n, 1))} shards", flush=True
        )
    ray_runs = {cpus: on_ray(cpus, sizes, args.runs, results) for cpus in (1, 2)}
    print("\n| sessions | serial | Ray, 1 CPU | Ray, 2 CPUs | speed-up on 2 CPUs |\n|---|---|---|---|---|")
    for n in sizes:
        gain = statistics.median(local[n]) / statistics.median(ray_runs[2][n])
        print(
            f"| {n:,} | {shown(local[n])} | {shown(ray_runs[1][n])} | {shown(ray_runs[2][n])} | {gain:.2f}x |"
        )
    print(f"load average at the end: {os.getloadavg()}; every Ray comparison equal to the serial one")


if __name__ == "__main__":
    main()
