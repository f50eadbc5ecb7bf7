"""compose.yaml runs the real CLI: every service's command is accepted by the ``gatekeeper`` parser
(Docker itself is not needed, and was not available where this was written)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.core import TyperGroup

from gatekeeper.cli import app

COMPOSE = Path(__file__).resolve().parents[1] / "compose.yaml"


def parse(argv: list[str]) -> Any:
    """Parse a command line with the CLI's own parser, down to the leaf command, without running it
    (``make_context`` checks every option and converts every value, as a real run would)."""
    assert argv[0] == "gatekeeper", argv
    command: Any = typer.main.get_command(app)
    ctx, name, args = None, "gatekeeper", argv[1:]
    while isinstance(command, TyperGroup):
        ctx = command.make_context(name, [], parent=ctx, resilient_parsing=True)
        name, *args = args
        command = command.get_command(ctx, name)
        if command is None:
            raise LookupError(f"no such command {name!r}")
    return command.make_context(name, list(args), parent=ctx)


def test_every_service_command_is_accepted_by_the_cli() -> None:
    services = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]
    commands = {name: s["command"] for name, s in services.items() if "command" in s}
    assert set(commands) == {"migrate", "api", "worker", "canary-daemon", "drift-daemon", "dashboard"}
    assert services["worker"]["deploy"]["replicas"] == 2 and "postgres" in services
    for name, argv in commands.items():
        assert parse(argv).info_name in argv[1:3], name  # the leaf command was reached and parsed
    assert parse(commands["api"]).params["host"] == "0.0.0.0"


def test_the_parser_check_refuses_what_the_cli_refuses() -> None:
    with pytest.raises(LookupError):
        parse(["gatekeeper", "no-such-command"])
    with pytest.raises(typer.BadParameter):
        parse(["gatekeeper", "serve", "--port", "eighty"])
    with pytest.raises(Exception, match="No such option"):
        parse(["gatekeeper", "worker", "--replicas", "2"])
    with pytest.raises(LookupError):
        parse(["gatekeeper", "db", "sideways"])
