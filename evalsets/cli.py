"""``gatekeeper evalsets build``: the same builder as ``python -m evalsets.build``, from the main CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

evalsets_app = typer.Typer(help="The MangaAssist evalsets: build them, or prove the committed ones rebuild.")


@evalsets_app.command("build")
def build_command(
    target: Annotated[str, typer.Argument(help="intent_classifier | reranker | generator")],
    out: Annotated[Path | None, typer.Option(help="Output folder (default: evalsets/<target>/).")] = None,
    seed: Annotated[int | None, typer.Option(help="Generator seed (default: the builder's).")] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Rebuild into a temp folder and compare with the manifest.")
    ] = False,
) -> None:
    """Generate a target's sets deterministically (seeded), or check the committed ones byte for byte."""
    from evalsets import build as builder

    if target not in builder.BUILDERS:
        typer.echo(
            f"error: unknown evalset target {target!r}; expected one of {sorted(builder.BUILDERS)}", err=True
        )
        raise typer.Exit(2)
    args = (
        [target] + (["--out", str(out)] if out else []) + (["--seed", str(seed)] if seed is not None else [])
    )
    raise typer.Exit(builder.main(args + (["--check"] if check else [])))
