"""``gatekeeper audit``: local checks of the audit log, straight on the database."""

from __future__ import annotations

import typer

from gatekeeper.config import get_settings
from gatekeeper.db import Database
from gatekeeper.registry import audit

audit_app = typer.Typer(help="The audit log (local operation on the database).", no_args_is_help=True)


@audit_app.command("verify")
def verify() -> None:
    """Recompute the hash chain; exit 1 naming the first broken row if a past row was edited or removed."""
    db = Database.from_url(get_settings().database_url)
    try:
        with db.session() as session:
            verdict = audit.verify(session)
    finally:
        db.dispose()
    typer.echo(verdict.describe(), err=not verdict.ok)
    if not verdict.ok:
        raise typer.Exit(1)
