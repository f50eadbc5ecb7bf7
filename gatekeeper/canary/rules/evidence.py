"""The evidence test of the rate rules (error, exception): a count over the threshold counts only when
it is itself evidence that the threshold is crossed (Poisson upper tail below ``evidence_alpha``)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.special import pdtrc

from gatekeeper.canary.rules.arrays import BoolArray, FloatArray, IntArray


def p_upper(counts: IntArray, expected: NDArray[Any]) -> FloatArray:
    """Poisson P(X >= count | expected): how surprising the count is if the rate sat on the threshold."""
    return np.asarray(pdtrc(np.maximum(counts - 1, 0), expected), dtype=np.float64)


def evidence(
    point: BoolArray, counts: IntArray, expected: NDArray[Any], alpha: float
) -> tuple[BoolArray, FloatArray]:
    """Keep the point condition only where the count passes the evidence test; p is 1 elsewhere."""
    p = np.ones(point.size, dtype=np.float64)
    idx = np.flatnonzero(point)
    if idx.size:
        p[idx] = p_upper(counts[idx], expected[idx])
    return point & (p < alpha), p


def rates(num: IntArray, den: IntArray) -> FloatArray:
    """Counts over requests; no requests reads as rate 0."""
    return num / np.maximum(den, 1)
