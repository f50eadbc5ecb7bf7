"""Mode 2, slices: the holdout cut post hoc by every declared dimension and intersection, each slice
compared with the champion on the same examples (paired bootstrap). Small slices are measured too;
``gatekeeper.policy.decide`` marks them as insufficient data rather than judging them."""

from __future__ import annotations

import zlib
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


def _codes(rows: Sequence[dict[str, Any]], dimension: str) -> tuple[np.ndarray, list[str]]:
    """One dimension as codes into its sorted values (-1 where a row has no value)."""
    field = FIELD_ALIASES.get(dimension, dimension)
    column = [None if (v := row.get(field)) is None else str(v) for row in rows]
    values = sorted({v for v in column if v is not None})
    lookup = {v: i for i, v in enumerate(values)}
    return np.array([-1 if v is None else lookup[v] for v in column], dtype=np.int64), values


def group_rows(
    rows: Sequence[dict[str, Any]], dimensions: Sequence[str], intersections: Sequence[Sequence[str]]
) -> dict[str, tuple[dict[str, str], list[int]]]:
    """Map each slice key to its dimension values and the row indices in it (slices in sorted value
    order; a row without a value of a dimension is in no slice of it). Each dimension is coded once and
    an intersection's rows are grouped by one combined code, not row by row."""
    combos = [[d] for d in dimensions] + [list(i) for i in intersections]
    coded = {d: _codes(rows, d) for d in {d for combo in combos for d in combo}}
    groups: dict[str, tuple[dict[str, str], list[int]]] = {}
    for combo in combos:
        combined, present = np.zeros(len(rows), dtype=np.int64), np.ones(len(rows), dtype=bool)
        for d in combo:  # mixed radix, first dimension most significant: code order is sorted order
            codes, values = coded[d]
            combined, present = combined * max(len(values), 1) + codes, present & (codes >= 0)
        members = np.flatnonzero(present)
        order = members[np.argsort(combined[members], kind="stable")]
        cuts = np.flatnonzero(np.diff(combined[order])) + 1
        for index in np.split(order, cuts) if order.size else []:
            dims = {d: coded[d][1][coded[d][0][index[0]]] for d in combo}
            groups[slice_key(dims)] = (dims, index.tolist())
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
