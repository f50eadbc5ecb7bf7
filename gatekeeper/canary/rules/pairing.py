"""Canary windows paired with their holdout window by ``start``; a pair is evaluable (evidence) only when
both sides hold at least ``min_requests``. Triggers record the pairs they fired on, as the rule saw them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gatekeeper.canary.rules.arrays import BoolArray, GroupArrays, WindowArrays
from gatekeeper.canary.rules.runs import links
from gatekeeper.canary.rules.triggers import AbortRules, Trigger
from gatekeeper.canary.rules.windows import epoch, iso


@dataclass(frozen=True)
class Paired:
    """Canary windows with their holdout pair (``h`` = holdout index, valid where ``ok``)."""

    c: GroupArrays
    hold: GroupArrays
    base: GroupArrays
    h: NDArray[np.intp]
    ok: BoolArray
    link: BoolArray


def evaluable(c: GroupArrays, hold: GroupArrays, min_requests: int) -> tuple[NDArray[np.intp], BoolArray]:
    """Each canary window's holdout index, and whether the pair is evidence (both sides >= min_requests)."""
    if len(c) == 0 or len(hold) == 0:
        return np.zeros(len(c), dtype=np.intp), np.zeros(len(c), dtype=bool)
    h = np.minimum(np.searchsorted(hold.start, c.start), len(hold) - 1)
    m = min_requests
    return h, (hold.start[h] == c.start) & (c.requests >= m) & (hold.requests[h] >= m)


def pair(arrays: WindowArrays, rules: AbortRules) -> Paired | None:
    """Pair the canary with the holdout; None when no pair is evaluable."""
    c, hold = arrays.canary, arrays.holdout
    h, ok = evaluable(c, hold, rules.min_requests)
    if not ok.any():
        return None
    return Paired(c, hold, arrays.baseline, h, ok, links(c.start, c.end))


def window_dicts(g: GroupArrays, idx: Sequence[int], group: str) -> list[dict[str, Any]]:
    """Windows of ``g`` in the JSON form of ``Window.to_dict`` (a metric a window did not report is left
    out, so the result is plain JSON)."""
    return [
        {
            "start": iso(g.start[i]),
            "end": iso(g.end[i]),
            "group": group,
            "requests": int(g.requests[i]),
            "errors": int(g.errors[i]),
            "latency_p99_ms": float(g.latency_p99_ms[i]),
            "safety": {m: float(v[i]) for m, v in g.safety.items() if math.isfinite(v[i])},
            "exceptions": {t: int(v[i]) for t, v in g.exceptions.items() if v[i]},
        }
        for i in idx
    ]


def with_evidence(p: Paired, trigger: Trigger) -> Trigger:
    """Record the canary windows the trigger fired on and their holdout pairs, as the rule saw them. The
    sequential rule fired on every canary window up to its look (its re-check re-runs the test on them
    all), so it records them all, with the holdout pair of the look."""
    wanted = np.array([epoch(s) for s in trigger.window_starts], dtype=np.int64)
    idx = np.searchsorted(p.c.start, wanted).tolist()
    paired = [int(p.h[i]) for i in idx if p.ok[i]]  # every window a rule fires on is paired
    seen = list(range(idx[-1] + 1)) if trigger.rule == "sequential" else idx
    evidence = {
        "canary": window_dicts(p.c, seen, "canary"),
        "holdout": window_dicts(p.hold, paired, "holdout"),
    }
    return replace(trigger, evidence=evidence)
