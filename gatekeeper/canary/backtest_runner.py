"""Run a backtest over its sources: recorded or file streams in this process, simulated ones in chunks
over ``workers`` processes (each chunk simulates its streams and replays them through every policy, so
``--compare`` judges the very same streams)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from gatekeeper.canary.backtest import SCHEMA, Outcome, Stream, replay, report
from gatekeeper.canary.backtest_sources import SimSettings, Simulation, simulated
from gatekeeper.canary.rules import AbortRules

Policies = Sequence[tuple[str, AbortRules]]
Progress = Callable[[int, int], None]
CHUNK = 25
Job = tuple[Simulation, int, int, SimSettings, Policies]


def _chunk(job: Job) -> list[list[Outcome]]:
    sim, lo, hi, settings, policies = job
    out: list[list[Outcome]] = [[] for _ in policies]
    for stream in simulated(sim, settings, lo, hi):
        for k, (_, rules) in enumerate(policies):
            out[k].append(replay(stream, rules))
    return out


def _map(jobs: list[Job], workers: int) -> Iterator[list[list[Outcome]]]:
    if workers <= 1 or len(jobs) <= 1:
        yield from map(_chunk, jobs)
        return
    with ProcessPoolExecutor(workers) as pool:
        yield from pool.map(_chunk, jobs)


def run_sources(
    streams: Sequence[Stream],
    simulations: Sequence[Simulation],
    policies: Policies,
    *,
    sim: SimSettings,
    workers: int = 1,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Every policy over every stream: the JSON report (``backtest.SCHEMA``), policies side by side."""
    jobs = [(s, lo, min(lo + CHUNK, s.n), sim, policies) for s in simulations for lo in range(0, s.n, CHUNK)]
    total = len(streams) + sum(s.n for s in simulations)
    outcomes = [[replay(s, rules) for s in streams] for _, rules in policies]
    done = len(streams)
    for part in _map(jobs, workers):
        for k, found in enumerate(part):
            outcomes[k] += found
        done += len(part[0])
        if progress:
            progress(done, total)
    named = zip(policies, outcomes, strict=True)
    return {"schema": SCHEMA, "streams": total, "policies": [report(o, r, name=n) for (n, r), o in named]}
