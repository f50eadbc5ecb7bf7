"""``gatekeeper backtest``'s edge: read policies, JSONL files and the database, run, print. The Typer
command (``backtest_cli``) imports this on use, so other commands do not load scipy.stats."""

from __future__ import annotations

import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

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


def main(
    jsonl: list[Path] | None,
    options: dict[str, Any],
) -> None:
    """Run the command with its parsed options (see ``backtest_cli.backtest``)."""
    o = options
    target, canary, simulate, fmt = o["target"], o["canary"], o["simulate"], o["fmt"]
    _check(fmt, bool(jsonl or target or canary or simulate))
    streams, own = _database_streams(target, canary) if (target or canary) else ([], None)
    streams += _file_streams(jsonl or [])
    base, policies = _policies(o["policy"], o["compare"], own)
    sims = [backtest_sources.parse_simulation(s) for s in simulate or []]
    stages = [(s.share, s.days) for s in base.canary.stages] if o["stage_plan"] else None
    plan = sum(d for _, d in stages) if stages else o["days"]
    sim = backtest_sources.SimSettings(plan, timedelta(hours=o["onset_hours"]), stages, o["seed"])
    result = _run({"streams": streams, "simulations": sims, "sim": sim}, policies, o["workers"])
    _write(backtest_format.render(result, fmt), o["output"])


def _write(text: str, output: Path | None) -> None:
    if output:
        output.write_text(text)
    else:
        sys.stdout.write(text)
