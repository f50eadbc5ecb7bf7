"""``gatekeeper backtest``: the edge of ``canary.backtest`` (read policies, files and the database; print)."""

from __future__ import annotations

import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from gatekeeper.canary import backtest as bt
from gatekeeper.canary import backtest_format, backtest_runner, backtest_sources
from gatekeeper.errors import ValidationFailed
from gatekeeper.policy.schema import Policy, parse_policy


def _policy_file(path: Path) -> Policy:
    try:
        return parse_policy(path.read_text())
    except OSError as exc:
        raise ValidationFailed(f"{path}: {exc.strerror}", field="policy") from None
    except ValidationFailed as exc:
        raise ValidationFailed(f"{path}: {exc.detail}", **exc.fields) from None


def _database_streams(target: str | None, canary: str | None) -> tuple[list[bt.Stream], Policy | None]:
    """Recorded canaries of a target (or one canary) and the target's current policy."""
    from gatekeeper.canary import service as canaries
    from gatekeeper.config import get_settings
    from gatekeeper.db import Database
    from gatekeeper.registry import service as registry

    db = Database.from_url(get_settings().database_url)
    with db.session() as session:
        if canary is not None:
            row = canaries.get(session, canary)
            t = canaries.canary_target(session, row)
        else:
            t = registry.get_target(session, target or "")
        policy = registry.policy_of(session, t)
        metrics = policy.canary.safety_metrics
        if canary is not None:
            return backtest_sources.recorded(session, safety_metrics=metrics, canary_id=row.id), policy
        return backtest_sources.recorded(session, safety_metrics=metrics, target_id=t.id), policy


def _file_streams(paths: list[Path]) -> list[bt.Stream]:
    streams = []
    for path in paths:
        try:
            lines = path.read_text().splitlines()
        except OSError as exc:
            raise ValidationFailed(f"{path}: {exc.strerror}", field="jsonl") from None
        streams += backtest_sources.parse_jsonl(lines, name=path.stem)
    return streams


def _policies(
    policy: Path | None, compare: Path | None, own: Policy | None
) -> tuple[Policy, backtest_runner.Policies]:
    """The policy replayed (the file, else the target's, else the defaults) and the one compared."""
    base = _policy_file(policy) if policy else own or Policy(target="backtest")
    policies = [(str(policy or "policy"), backtest_sources.rules_of(base))]
    if compare:
        policies.append((str(compare), backtest_sources.rules_of(_policy_file(compare))))
    return base, policies


def _check(fmt: str, sources: bool) -> None:
    if fmt not in backtest_format.FORMATS:
        raise ValidationFailed(
            f"--format must be one of {', '.join(backtest_format.FORMATS)}", field="format"
        )
    if not sources:
        raise ValidationFailed("give streams: JSONL files, --target, --canary or --simulate", field="source")


def _progress(done: int, total: int) -> None:
    if total >= 100 and (done % max(total // 20, 1) == 0 or done == total):
        typer.echo(f"backtest: {done}/{total} streams", err=True)


def _run(sources: dict[str, Any], policies: backtest_runner.Policies, workers: int) -> dict[str, Any]:
    began = time.perf_counter()
    result = backtest_runner.run_sources(
        sources["streams"], sources["simulations"], policies, sim=sources["sim"], workers=workers,
        progress=_progress,
    )  # fmt: skip
    result["elapsed_seconds"] = time.perf_counter() - began
    return result


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
    _check(fmt, bool(jsonl or target or canary or simulate))
    streams, own = _database_streams(target, canary) if (target or canary) else ([], None)
    streams += _file_streams(jsonl or [])
    base, policies = _policies(policy, compare, own)
    sims = [backtest_sources.parse_simulation(s) for s in simulate or []]
    stages = [(s.share, s.days) for s in base.canary.stages] if stage_plan else None
    plan = sum(d for _, d in stages) if stages else days
    sim = backtest_sources.SimSettings(plan, timedelta(hours=onset_hours), stages, seed)
    result = _run({"streams": streams, "simulations": sims, "sim": sim}, policies, workers)
    _write(backtest_format.render(result, fmt), output)


def _write(text: str, output: Path | None) -> None:
    if output:
        output.write_text(text)
    else:
        sys.stdout.write(text)
