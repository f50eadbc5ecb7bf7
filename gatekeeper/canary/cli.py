"""``gatekeeper canary-daemon``."""

from __future__ import annotations

from typing import Annotated

import typer

from gatekeeper.config import get_settings


def canary_daemon(
    once: Annotated[bool, typer.Option("--once", help="Run one tick and exit.")] = False,
    tick_seconds: Annotated[
        float | None,
        typer.Option(help="Seconds between ticks (default: the policies' canary.tick_minutes)."),
    ] = None,
    name: Annotated[str | None, typer.Option(help="Name in the lease and the audit log.")] = None,
    pace: Annotated[
        float, typer.Option(help="Pause between canaries (crash-safety tests).", hidden=True)
    ] = 0.0,
) -> None:
    """Apply the canary abort rules every tick; one leader at a time (a standby takes over)."""
    from gatekeeper.canary.daemon import CanaryDaemon
    from gatekeeper.db import Database

    settings = get_settings()
    daemon = CanaryDaemon(
        Database.from_url(settings.database_url), settings, echo=lambda line: typer.echo(line, err=True)
    )
    daemon.pace_seconds = pace
    if name:
        daemon.name = name
    try:
        daemon.run(tick_seconds=tick_seconds, once=once)
    except KeyboardInterrupt:
        typer.echo("canary daemon stopped", err=True)
