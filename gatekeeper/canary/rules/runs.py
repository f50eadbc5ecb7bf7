""" "For more than D": runs of contiguous windows (each ``start`` is the previous ``end``) whose span, last
``end`` minus first ``start``, is strictly greater than D; and trailing sums over windows."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from gatekeeper.canary.rules.arrays import BoolArray, IntArray


def runs(
    cond: BoolArray, link: BoolArray, start: IntArray, end: IntArray, min_span_s: float
) -> list[tuple[int, int]]:
    """Return (first, fire) indices: per run of contiguous true windows, where its span first exceeds D."""
    if not cond.any():
        return []
    n = cond.size
    joined = np.zeros(n, dtype=bool)
    joined[1:] = cond[1:] & cond[:-1] & link[1:]
    first = np.maximum.accumulate(np.where(joined, 0, np.arange(n)))
    fire = np.flatnonzero(cond & (end - start[first] > min_span_s))
    if fire.size == 0:
        return []
    firsts = first[fire]
    keep = np.ones(fire.size, dtype=bool)
    keep[1:] = firsts[1:] != firsts[:-1]
    return list(zip(firsts[keep].tolist(), fire[keep].tolist(), strict=True))


def links(start: IntArray, end: IntArray) -> BoolArray:
    """Whether each window starts where the previous one ended."""
    link = np.zeros(start.size, dtype=bool)
    link[1:] = start[1:] == end[:-1]
    return link


def sustained(cond: BoolArray, start: IntArray, end: IntArray, minutes: float) -> bool:
    """Whether ``cond`` holds over some run of windows longer than ``minutes``."""
    return bool(runs(cond, links(start, end), start, end, minutes * 60))


def windowed(x: NDArray[Any], lo: NDArray[np.intp]) -> NDArray[Any]:
    """Sums of ``x`` over [lo[k], k] for every k."""
    cs = np.zeros(x.size + 1, dtype=x.dtype)
    np.cumsum(x, out=cs[1:])
    return cs[1:] - cs[lo]
