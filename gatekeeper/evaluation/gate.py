"""Compose the five modes over one task's columns into the results document (pure: a task in,
measurements out). Every mode is written once in ``modes/``; every threshold is applied in
``gatekeeper.policy.decide``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from gatekeeper.evaluation.evalset import EvalSet
from gatekeeper.evaluation.modes.adversarial import adversarial_mode
from gatekeeper.evaluation.modes.correlation import correlation_mode
from gatekeeper.evaluation.modes.slices import slice_table
from gatekeeper.evaluation.tasks import Rows, Task
from gatekeeper.policy.decide import slice_support
from gatekeeper.policy.schema import Policy

SCHEMA_VERSION = 1
# The evalset role each example-based mode reads (correlation reads online metrics, not examples).
MODE_OF_ROLE = {"golden": "golden", "holdout": "slices", "adversarial": "adversarial", "replay": "replay"}
ModeDone = Callable[[str, int], None]


def _ignore(mode: str, examples: int) -> None:
    """No one is following this run's progress."""


def slices_mode(task: Task, holdout: Rows, policy: Policy, *, n_resamples: int, seed: int) -> dict[str, Any]:
    """Every declared slice of the holdout, measured, then marked by the policy's support rule."""
    table = slice_table(
        holdout,
        task.scores(holdout, task.candidate),
        None if task.champion is None else task.scores(holdout, task.champion),
        dimensions=task.slice_dimensions(policy.slices.dimensions),
        intersections=policy.slices.intersections,
        n_resamples=n_resamples,
        seed=seed,
        metric=task.slice_metric,
    )
    return slice_support(table, policy)


def gate_results(
    task: Task,
    evalset: EvalSet,
    policy: Policy,
    *,
    latency_ms: Sequence[float] | None,
    correlation_pairs: Sequence[dict[str, Any]],
    n_resamples: int = 1000,
    seed: int = 0,
    on_mode: ModeDone = _ignore,
) -> dict[str, Any]:
    """Measurements of all five modes for a candidate (and its champion, if any); ``on_mode`` hears of
    each mode as it finishes, with its number of examples."""
    golden = evalset.examples("golden")
    results: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "task": task.name,
        "first_model": task.champion is None,
        "golden": task.golden(golden, latency_ms=latency_ms, n_resamples=n_resamples, seed=seed),
    }
    on_mode("golden", len(golden))
    online = policy.correlation.online_metric
    results["correlation"] = correlation_mode(correlation_pairs, online_metric=online)
    on_mode("correlation", len(correlation_pairs))
    if holdout := evalset.examples("holdout"):
        results["slices"] = slices_mode(task, holdout, policy, n_resamples=n_resamples, seed=seed + 1)
        on_mode("slices", len(holdout))
    adversarial = evalset.examples("adversarial")
    results["adversarial"] = adversarial_mode(task, adversarial, n_resamples=n_resamples, seed=seed + 2)
    on_mode("adversarial", len(adversarial))
    if replay := evalset.examples("replay"):
        results["replay"] = task.replay(replay, n_resamples=n_resamples, seed=seed + 3)
        on_mode("replay", len(replay))
    return results
