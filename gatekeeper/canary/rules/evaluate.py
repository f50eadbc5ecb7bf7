"""The abort path: the four rules against the holdout, every trigger earliest first."""

from __future__ import annotations

from collections.abc import Sequence

from gatekeeper.canary.rules import error_rate, exception, latency_p99, safety
from gatekeeper.canary.rules.arrays import WindowArrays, as_arrays
from gatekeeper.canary.rules.pairing import pair, with_evidence
from gatekeeper.canary.rules.triggers import RULES, AbortRules, Trigger
from gatekeeper.canary.rules.windows import Window


def evaluate(windows: Sequence[Window] | WindowArrays, rules: AbortRules) -> list[Trigger]:
    """Run the four rules against the holdout; every trigger, earliest first (the daemon aborts on it)."""
    p = pair(as_arrays(windows), rules)
    if p is None:
        return []
    found = [t for m in rules.safety_metrics for t in safety.against_holdout(p, rules, m)]
    found += error_rate.against_holdout(p, rules) + latency_p99.against_holdout(p, rules)
    found += exception.against_holdout(p, rules)
    found = [with_evidence(p, t) for t in found]
    return sorted(found, key=lambda t: (t.fired_at, RULES.index(t.rule), t.metric or ""))
