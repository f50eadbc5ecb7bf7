"""``gatekeeper shadow replay``."""

from __future__ import annotations

from typing import Annotated

import typer

from gatekeeper.cli_common import local_actor
from gatekeeper.config import get_settings

shadow_app = typer.Typer(help="Shadow mode.", no_args_is_help=True)


@shadow_app.command("replay")
def shadow_replay(
    candidate_id: Annotated[str, typer.Argument(help="A gate_passed (or shadow) candidate.")],
    limit: Annotated[int, typer.Option(help="Logged sessions to replay.")] = 500,
) -> None:
    """Replay the counterfactual set through champion and candidate here, recording real shadow records
    dated from the shadow's start to now; the verdict comes once min_hours of server time have passed."""
    from gatekeeper.clock import SystemClock
    from gatekeeper.db import Database
    from gatekeeper.promotion.replay import replay

    settings = get_settings()
    summary = replay(
        Database.from_url(settings.database_url),
        settings,
        candidate_id,
        clock=SystemClock(),
        actor=local_actor(),
        limit=limit,
        echo=lambda line: typer.echo(line, err=True),
    )
    typer.echo(f"shadow {summary['verdict']}: {'; '.join(summary['reasons'])}")
    typer.echo(
        f"agreement {summary['agreement']:.3f}  p99 candidate {summary['candidate_p99_ms']:.1f} ms vs "
        f"champion {summary['champion_p99_ms']:.1f} ms  ({summary['n']} records, {summary['hours']:.1f} h)"
    )
