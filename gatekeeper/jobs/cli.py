"""``gatekeeper worker``: run queued evaluations and training runs."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from gatekeeper.config import get_settings


def worker(
    once: Annotated[bool, typer.Option("--once", help="Run at most one job, then exit.")] = False,
    kinds: Annotated[
        list[str] | None, typer.Option("--kind", help="Only these job kinds (repeatable).")
    ] = None,
    poll: Annotated[
        float | None,
        typer.Option(
            help="Seconds between idle polls (default: 1 on Postgres, woken by NOTIFY; 0.05 on SQLite)."
        ),
    ] = None,
    lease_seconds: Annotated[
        float, typer.Option(help="Job lease: a crashed worker's job is retried this long after.", hidden=True)
    ] = 60.0,
) -> None:
    """Claim jobs from the database queue and run them (Postgres: run several, on several machines)."""
    from gatekeeper.db import Database
    from gatekeeper.jobs.handlers import install
    from gatekeeper.jobs.worker import Worker, poll_seconds_for

    install()
    settings = get_settings()
    runner = Worker(
        Database.from_url(settings.database_url),
        settings,
        kinds=tuple(kinds) if kinds else None,
        lease=timedelta(seconds=lease_seconds),
        echo=lambda line: typer.echo(line, err=True),
    )
    if once:
        ran = runner.run_once()
        typer.echo("ran one job" if ran else "no job was waiting", err=True)
        return
    try:
        runner.run_forever(poll_seconds=poll if poll is not None else poll_seconds_for(runner.db.dialect))
    except KeyboardInterrupt:
        typer.echo("worker stopped", err=True)
