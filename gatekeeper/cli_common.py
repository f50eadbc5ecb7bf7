"""Options and helpers shared by the command modules."""

from __future__ import annotations

import getpass
import json
from typing import Annotated, Any

import typer

from gatekeeper.client import Client
from gatekeeper.config import get_settings

UrlOpt = Annotated[str | None, typer.Option("--url", envvar="GATEKEEPER_URL", help="API base URL.")]
TokenOpt = Annotated[
    str | None, typer.Option("--token", envvar="GATEKEEPER_TOKEN", help="Bearer token.", show_default=False)
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the raw JSON reply.")]


def local_actor() -> str:
    return f"cli:{getpass.getuser()}"


def fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def client(url: str | None, token: str | None) -> Client:
    return Client.from_env(url, token)


def show(data: Any, as_json: bool, lines: list[str]) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=True, default=str) if as_json else "\n".join(lines))


def parse_tags(pairs: list[str]) -> dict[str, str]:
    """``--tag KEY=VALUE`` options as a mapping."""
    tags: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise typer.BadParameter(f"tag {pair!r} is not KEY=VALUE", param_hint="--tag")
        tags[key.strip()] = value
    return tags


def local_sha(artifact: str) -> str:
    """The sha256 of a file or folder under the artifact root, computed on this machine."""
    from gatekeeper.registry.artifacts import artifact_sha256, resolve_under_root

    return artifact_sha256(resolve_under_root(artifact, get_settings().artifact_root))
