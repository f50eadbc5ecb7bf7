"""What the windowed rules (``error_rate``, ``latency_p99``, ``safety``) share once each has judged its
windows: a trigger per run of breaching windows, and the re-check's answer over a trigger's windows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gatekeeper.canary.rules.arrays import BoolArray, GroupArrays, IntArray
from gatekeeper.canary.rules.pairing import Paired
from gatekeeper.canary.rules.runs import runs, sustained
from gatekeeper.canary.rules.triggers import Recheck, Trigger, make_trigger, recheck_figures, verdict


def run_triggers(
    rule: str,
    metric: str | None,
    p: Paired,
    breach: BoolArray,
    minutes: float,
    threshold: dict[str, Any],
    row: Callable[[int], dict[str, Any]],
) -> list[Trigger]:
    """One trigger per run of breaching canary windows longer than ``minutes``, ``row(i)`` per window."""
    out = []
    for a, b in runs(breach, p.link, p.c.start, p.c.end, minutes * 60):
        figures = {"threshold": dict(threshold), "windows": [row(i) for i in range(a, b + 1)]}
        out.append(make_trigger(rule, metric, p.c, range(a, b + 1), figures))
    return out


def windowed_recheck(
    rule: str,
    c: GroupArrays,
    idx: IntArray,
    breach: BoolArray,
    minutes: float,
    reference: dict[str, Any],
    rows: list[dict[str, Any]],
    detail: str,
) -> Recheck:
    """Whether the trigger's recorded windows ``idx`` still breach for more than ``minutes``."""
    fires = sustained(breach, c.start[idx], c.end[idx], minutes)
    return Recheck(fires, recheck_figures(reference, rows, breach, idx), verdict(rule, fires, detail))
