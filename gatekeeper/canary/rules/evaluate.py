"""The abort path: the policy's rules (``abort_rules.rules``: the seed's four, the sequential one, or both)
against the holdout, every trigger earliest first. The daemon and ``gatekeeper backtest`` both call this."""

from __future__ import annotations

from collections.abc import Sequence

from gatekeeper.canary.rules import error_rate, exception, latency_p99, safety, sequential
from gatekeeper.canary.rules.arrays import WindowArrays, as_arrays
from gatekeeper.canary.rules.pairing import Paired, pair, with_evidence
from gatekeeper.canary.rules.triggers import RULES, AbortRules, Trigger
from gatekeeper.canary.rules.windows import Window


def evaluate(windows: Sequence[Window] | WindowArrays, rules: AbortRules) -> list[Trigger]:
    """Run the policy's rules against the holdout; every trigger, earliest first (the daemon aborts on it)."""
    p = pair(as_arrays(windows), rules)
    if p is None:
        return []
    found = seed_rules(p, rules) if rules.rules != "sequential" else []
    found += sequential.against_holdout(p, rules) if rules.rules != "seed" else []
    found = [with_evidence(p, t) for t in found]
    return sorted(found, key=lambda t: (t.fired_at, RULES.index(t.rule), t.metric or ""))


def seed_rules(p: Paired, rules: AbortRules) -> list[Trigger]:
    """The four threshold rules of seed 002."""
    found = [t for m in rules.safety_metrics for t in safety.against_holdout(p, rules, m)]
    found += error_rate.against_holdout(p, rules) + latency_p99.against_holdout(p, rules)
    return found + exception.against_holdout(p, rules)
