"""``gatekeeper drift-daemon``: compute the four drift kinds on a schedule (``--once`` for one pass)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from gatekeeper.config import get_settings

if TYPE_CHECKING:
    from gatekeeper.drift.windows import Cadence


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an ISO time", param_hint="--at") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _cadence(fast_minutes: float, log_retention_days: float, label_retention_days: float) -> Cadence:
    """The daemon's window lengths and retention, each refused unless positive."""
    from gatekeeper.drift.windows import Cadence  # pandas and the ORM load only when the daemon runs

    positive = {
        "--fast-minutes": fast_minutes,
        "--log-retention-days": log_retention_days,
        "--label-retention-days": label_retention_days,
    }
    for hint, value in positive.items():
        if value <= 0:
            raise typer.BadParameter("must be positive", param_hint=hint)
    return Cadence(
        fast=timedelta(minutes=fast_minutes),
        log_retention=timedelta(days=log_retention_days),
        label_retention=timedelta(days=label_retention_days),
    )


_Once = Annotated[bool, typer.Option("--once", help="Run one pass, print what it did, exit.")]
_At = Annotated[
    str | None, typer.Option(help="With --once: the pass's time (ISO 8601, UTC if no offset), for replays.")
]
_Interval = Annotated[float, typer.Option(help="Seconds between passes.")]
_FastMinutes = Annotated[
    float, typer.Option(help="Input/prediction window length in minutes (label/concept: daily).")
]
_LogRetention = Annotated[
    float, typer.Option(help="Keep prediction logs this long (longer than your label latency).")
]
_LabelRetention = Annotated[float, typer.Option(help="Keep labels this long.")]
_Targets = Annotated[list[str] | None, typer.Option("--target", help="Only these targets (repeatable).")]
_Report = Annotated[bool, typer.Option(help="Save the Evidently report of each target's latest window.")]


def drift_daemon(
    once: _Once = False,
    at: _At = None,
    interval: _Interval = 300.0,
    fast_minutes: _FastMinutes = 5.0,
    log_retention_days: _LogRetention = 8.0,
    label_retention_days: _LabelRetention = 90.0,
    target: _Targets = None,
    report: _Report = False,
) -> None:
    """Input and prediction drift every 5 minutes, label and concept drift daily, with triage."""
    from gatekeeper.db import Database
    from gatekeeper.drift.daemon import describe, run_forever, run_pass

    cadence = _cadence(fast_minutes, log_retention_days, label_retention_days)
    if at is not None and not once:
        raise typer.BadParameter("--at goes with --once", param_hint="--at")
    settings = get_settings()
    db = Database.from_url(settings.database_url)
    echo = lambda line: typer.echo(line, err=True)  # noqa: E731
    if once:
        now = _moment(at) if at else datetime.now(UTC)
        for result in run_pass(db, settings, now=now, cadence=cadence, targets=target, report=report):
            echo(describe(result))
        return
    try:
        run_forever(
            db, settings, interval=interval, cadence=cadence, echo=echo, targets=target, report=report
        )
    except KeyboardInterrupt:
        echo("drift daemon stopped")
