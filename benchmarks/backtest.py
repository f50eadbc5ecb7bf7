"""The canary rules' detection-delay table (issue 15): the seed rules, the sequential rule and both, on
healthy and regressed canaries from the shipped simulator, and the wall time of 1,000 canary-weeks.

Every canary is a week of 5-minute windows at a 1 % share, judged after every window. Regressions start
a day in and last to the end: error ratio 1.5x, 2x, 3x, p99 +50 %, the safety metric -2 sigma (sigma = the
holdout's window-to-window standard deviation over a day, as the seed safety rule measures it). Delays
are minutes from the regression's start to the first trigger; a trigger before it counts as a false abort.

    python benchmarks/backtest.py [--healthy 1000] [--regressed 200] [--workers 2]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gatekeeper.canary.backtest_format import text_table  # noqa: E402
from gatekeeper.canary.backtest_runner import run_sources  # noqa: E402
from gatekeeper.canary.backtest_sources import SimSettings, Simulation  # noqa: E402
from gatekeeper.canary.rules import AbortRules  # noqa: E402
from gatekeeper.canary.simulate import SAFETY_METRIC, stream_arrays  # noqa: E402

VIEWS = {"seed rules": "seed", "sequential": "sequential", "both": "policy"}


def safety_sigma(n: int = 20) -> float:
    """The holdout safety metric's window-to-window standard deviation over a day (median of n days)."""
    start = datetime(2026, 1, 5, tzinfo=UTC)
    values = [stream_arrays(start, 1.0, seed).holdout.safety[SAFETY_METRIC] for seed in range(n)]
    return float(np.median([np.nanstd(v, ddof=1) for v in values]))


def _cpu() -> float:
    """CPU seconds of this process and its reaped workers (wall time lies on a shared machine)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--healthy", type=int, default=1000)
    parser.add_argument("--regressed", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    rules = AbortRules(rules="both", safety_metrics=(SAFETY_METRIC,))
    sigma = safety_sigma()
    sims = [Simulation("error_ratio", m, args.regressed) for m in (1.5, 2.0, 3.0)]
    sims += [
        Simulation("p99_ratio", 1.5, args.regressed),
        Simulation("safety", round(-2 * sigma, 4), args.regressed),
    ]
    settings = SimSettings(days=7.0, onset=timedelta(days=1))
    began, cpu = time.perf_counter(), _cpu()
    healthy = run_sources(
        [], [Simulation("healthy", None, args.healthy)], [("both", rules)], sim=settings, workers=args.workers
    )
    wall, cpu = time.perf_counter() - began, _cpu() - cpu
    regressed = run_sources([], sims, [("both", rules)], sim=settings, workers=args.workers)
    print(f"safety sigma {sigma:.4f}: -2 sigma = {-2 * sigma:.4f}")
    print(table(healthy["policies"][0]["summary"], regressed["policies"][0]["summary"]))
    print(
        f"\n{args.healthy} healthy canary-weeks, seed + sequential, {args.workers} workers: {wall:.1f} s, "
        f"{cpu:.1f} CPU s (on {args.workers} idle cores about {cpu / args.workers:.0f} s)"
    )


def table(healthy: dict, regressed: dict) -> str:
    """Rows: each view; columns: false aborts per canary-week, then per regression rate / median / p90."""
    labels = list(regressed["regressions"])
    header = ["rules", "false aborts/week [95% CI]", *labels]
    rows = []
    for name, view in VIEWS.items():
        h = healthy["healthy"][view]
        lo, hi = h["per_week_ci"]
        row = [name, f"{h['false_aborts_per_week']:.4f} [{lo:.4f}, {hi:.4f}]"]
        for label in labels:
            r = regressed["regressions"][label][view]
            med, p90 = r["delay_median_minutes"], r["delay_p90_minutes"]
            cell = f"{r['detection_rate']:.0%}" + (f" {med:.0f}/{p90:.0f} min" if med is not None else "")
            row.append(cell)
        rows.append(row)
    return text_table(header, rows) + "\n(detection rate, then median/p90 delay after the regression began)"


if __name__ == "__main__":
    main()
