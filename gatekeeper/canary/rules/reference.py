"""The bake: a stream of canary windows against a fixed reference group (the old champion's day), with the
live rules."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gatekeeper.canary.rules.arrays import GroupArrays, IntArray, WindowArrays
from gatekeeper.canary.rules.evaluate import evaluate
from gatekeeper.canary.rules.pairing import pair
from gatekeeper.canary.rules.triggers import AbortRules, Trigger
from gatekeeper.canary.rules.windows import DAY_S


@dataclass(frozen=True)
class Judgement:
    """The rules' triggers against a fixed reference, and which canary windows could be judged at all."""

    triggers: list[Trigger]
    evaluable_starts: IntArray


def tile(reference: GroupArrays, *, start_s: int, until_s: int, period_s: int = DAY_S) -> GroupArrays:
    """Repeat the reference period before ``start_s`` once per period up to ``until_s``: each later window
    meets the reference window of the same time of day (the unshifted copy feeds the trailing 24 h σ)."""
    keep = (reference.start >= start_s - period_s) & (reference.end <= start_s)
    ref = reference.select(keep)
    copies = [ref]
    for k in range(1, max(1, math.ceil((until_s - start_s) / period_s)) + 1):
        shift = k * period_s
        copies.append(
            GroupArrays(
                ref.start + shift,
                ref.end + shift,
                ref.requests,
                ref.errors,
                ref.latency_p99_ms,
                ref.safety,
                ref.exceptions,
            )
        )
    return GroupArrays.from_columns(
        start=np.concatenate([c.start for c in copies]),
        end=np.concatenate([c.end for c in copies]),
        requests=np.concatenate([c.requests for c in copies]),
        errors=np.concatenate([c.errors for c in copies]),
        latency_p99_ms=np.concatenate([c.latency_p99_ms for c in copies]),
        safety={m: np.concatenate([v] * len(copies)) for m, v in ref.safety.items()},
        exceptions={t: np.concatenate([v] * len(copies)) for t, v in ref.exceptions.items()},
    )


def against_reference(
    canary: GroupArrays,
    reference: GroupArrays,
    rules: AbortRules,
    *,
    start_s: int,
    until_s: int,
    period_s: int = DAY_S,
) -> Judgement:
    """Judge canary windows from ``start_s`` against a fixed reference period before it, with ``evaluate``.

    The bake after full promotion has no holdout any more: its reference is the old champion's windows
    of the day before promotion, tiled so each window is paired with the same time of day (a day's swing
    is not a regression). Everything else, pairing, evidence tests, σ, runs, is the live rule's.
    """
    ref = tile(reference, start_s=start_s, until_s=until_s, period_s=period_s)
    arrays = WindowArrays(canary.select(canary.start >= start_s), ref, GroupArrays.empty())
    p = pair(arrays, rules)
    if p is None:
        return Judgement([], np.zeros(0, dtype=np.int64))
    return Judgement(evaluate(arrays, rules), p.c.start[p.ok])
