"""What the backtest page runs and shows: the pure backtest on simulated canaries for a target's policy
(and one to compare), and the report's tables as frames (the CLI's own rows, never recomputed)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pandas as pd

from gatekeeper.canary import backtest_format, backtest_runner, backtest_sources
from gatekeeper.policy.schema import Policy, parse_policy


def run(policy: dict[str, Any], compare_yaml: str, specs: str, days: float) -> dict[str, Any]:
    """Replay ``specs`` (comma-separated ``--simulate`` specs) through the policy and, if given, the other."""
    current = Policy.model_validate(policy)
    policies = [("current", backtest_sources.rules_of(current))]
    if compare_yaml.strip():
        policies.append(("compared", backtest_sources.rules_of(parse_policy(compare_yaml))))
    sims = [backtest_sources.parse_simulation(s) for s in specs.split(",") if s.strip()]
    settings = backtest_sources.SimSettings(days=days, onset=timedelta(hours=min(24.0, days * 12)))
    return backtest_runner.run_sources([], sims, policies, sim=settings, workers=1)


def frames(report: dict[str, Any]) -> list[tuple[str, str, pd.DataFrame]]:
    """(key, title, frame) of each non-empty table of the report."""
    return [
        (key, backtest_format.TITLES[key], pd.DataFrame(rows, columns=backtest_format.HEADERS[key]))
        for key, rows in backtest_format.sections(report)
        if rows
    ]


def charts(report: dict[str, Any]) -> list[str]:
    """The report's charts as inline SVG."""
    return backtest_format.charts(report)
