"""``gatekeeper backtest``: the command's options; the work is in ``backtest_edge``, imported on use."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def backtest(
    jsonl: Annotated[list[Path] | None, typer.Argument(help="JSONL files of metric-POST bodies.")] = None,
    policy: Annotated[
        Path | None, typer.Option(help="Policy YAML (default: the target's, or the defaults).")
    ] = None,
    compare: Annotated[Path | None, typer.Option(help="A second policy YAML, side by side.")] = None,
    target: Annotated[str | None, typer.Option(help="Replay the target's recorded canaries.")] = None,
    canary: Annotated[str | None, typer.Option(help="Replay one recorded canary.")] = None,
    simulate: Annotated[
        list[str] | None,
        typer.Option(help="healthy:N, error_ratio=2.0:N, p99_ratio=1.5:N, safety=-0.03:N, exception=0.002:N"),
    ] = None,
    days: Annotated[float, typer.Option(help="Length of each simulated canary.")] = 7.0,
    onset_hours: Annotated[float, typer.Option(help="When a simulated regression begins.")] = 24.0,
    stage_plan: Annotated[
        bool, typer.Option(help="Simulate the policy's stage plan (its days, its shares).")
    ] = False,
    seed: Annotated[int, typer.Option(help="First simulation seed.")] = 0,
    workers: Annotated[int, typer.Option(help="Processes for simulated streams.")] = 2,
    fmt: Annotated[str, typer.Option("--format", help="table, json, md or html.")] = "table",
    output: Annotated[Path | None, typer.Option(help="Write the report here instead of stdout.")] = None,
) -> None:
    """Replay canary window streams through a policy's abort rules: false aborts and detection delays."""
    from gatekeeper.canary import backtest_edge

    options = {k: v for k, v in locals().items() if k not in ("jsonl", "backtest_edge")}
    backtest_edge.main(jsonl, options)
