"""Mode 2, slices: the holdout cut post hoc by every declared dimension and intersection, each slice
compared with the champion on the same examples (paired bootstrap). Small slices are measured too;
``gatekeeper.policy.decide`` marks them as insufficient data rather than judging them."""

from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Sequence
from itertools import product
from typing import Any

import numpy as np

from gatekeeper.errors import ValidationFailed
from gatekeeper.evaluation import stats

# Slice dimensions are example fields, except "intent", which is the true label.
FIELD_ALIASES = {"intent": "label"}
JOIN = "×"


def slice_key(dimensions: dict[str, str]) -> str:
    return JOIN.join(f"{d}={v}" for d, v in dimensions.items())


def parse_slice_key(key: str) -> dict[str, str]:
    """Read a key written by ``slice_key`` back (``lang=ja×cohort=new``); anything else is bad input."""
    pairs = [part.split("=", 1) for part in key.split(JOIN)]
    if any(len(pair) != 2 or not pair[0] for pair in pairs):
        raise ValidationFailed(
            f"slice must look like dimension=value, joined by {JOIN} for an intersection; got {key!r}",
            field="slice",
        )
    return dict(pairs)


def dimension_value(row: dict[str, Any], dimension: str) -> str | None:
    """The row's value for a slice dimension ("intent" is the true label), as a string."""
    value = row.get(FIELD_ALIASES.get(dimension, dimension))
    return None if value is None else str(value)


def group_rows(
    rows: Sequence[dict[str, Any]], dimensions: Sequence[str], intersections: Sequence[Sequence[str]]
) -> dict[str, tuple[dict[str, str], list[int]]]:
    """Map each slice key to its dimension values and the row indices in it."""
    groups: dict[str, tuple[dict[str, str], list[int]]] = {}
    for combo in [[d] for d in dimensions] + [list(i) for i in intersections]:
        members: dict[tuple[str, ...], list[int]] = defaultdict(list)
        for index, row in enumerate(rows):
            values = tuple(dimension_value(row, d) for d in combo)
            if None not in values:
                members[values].append(index)  # type: ignore[arg-type]
        for values in sorted(members, key=lambda v: tuple(map(str, v))):
            dims = dict(zip(combo, values, strict=True))
            groups[slice_key(dims)] = (dims, members[values])  # type: ignore[arg-type]
    return groups


def _seed(base: int, key: str) -> int:
    return base + zlib.crc32(key.encode()) % 1_000_000


def _figures(
    cand: np.ndarray, champ: np.ndarray | None, *, metric: str, n_resamples: int, seed: int
) -> dict[str, Any]:
    """One slice's comparison with the champion (paired bootstrap), or the candidate's interval alone."""
    if champ is None:
        interval = stats.bootstrap_mean_ci(cand, metric=metric, n_resamples=n_resamples, seed=seed)
        return {
            "champion": None,
            "delta": None,
            "ci_low": interval.ci_low,
            "ci_high": interval.ci_high,
            "p_value": None,
        }
    c = stats.paired_bootstrap_mean(cand, champ, metric=metric, n_resamples=n_resamples, seed=seed)
    return {
        "champion": c.champion,
        "delta": c.delta,
        "ci_low": c.ci_low,
        "ci_high": c.ci_high,
        "p_value": c.p_value,
    }


def slice_table(
    rows: Sequence[dict[str, Any]],
    candidate_scores: np.ndarray,
    champion_scores: np.ndarray | None,
    *,
    dimensions: Sequence[str],
    intersections: Sequence[Sequence[str]],
    n_resamples: int,
    seed: int,
    metric: str = "accuracy",
) -> dict[str, Any]:
    """One row per slice: n, both models' mean per-example score, delta, 95% CI and p-value.

    Every slice is measured whatever its size: whether it has the support to be judged is the
    policy's rule (``gatekeeper.policy.decide.slice_support``).
    """
    table = []
    for key, (dims, index) in group_rows(rows, dimensions, intersections).items():
        cand = candidate_scores[index]
        champ = None if champion_scores is None else champion_scores[index]
        figures = _figures(cand, champ, metric=metric, n_resamples=n_resamples, seed=_seed(seed, key))
        table.append(
            {"slice": key, "dimensions": dims, "n": len(index), "candidate": float(cand.mean()), **figures}
        )
    return {
        "metric": metric,
        "rows": table,
        "dimensions": list(dimensions),
        "intersections": [list(i) for i in intersections],
    }


def all_values(dimensions: Sequence[str], rows: Sequence[dict[str, Any]]) -> list[tuple[str, ...]]:
    """Every combination of observed values (used by the report to show empty intersections)."""
    observed = [sorted({v for r in rows if (v := dimension_value(r, d)) is not None}) for d in dimensions]
    return list(product(*observed))
