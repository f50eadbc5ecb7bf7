"""The CI examples run as written: every ``gatekeeper`` command in them parses with the real CLI."""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml

from gatekeeper.cli import app

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples" / "ci").glob("*.yml"))


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def invocations(path: Path) -> list[list[str]]:
    """Every shell line in the file's scripts that runs ``gatekeeper`` (continuations joined)."""
    found = []
    for text in _strings(yaml.safe_load(path.read_text(encoding="utf-8"))):
        for line in text.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words[:1] == ["gatekeeper"]:
                found.append(words[1 : words.index(">")] if ">" in words else words[1:])
    return found


def parse_only(args: list[str]) -> typer.Context:
    """Resolve the subcommand and parse its options exactly as the CLI would, without running it."""
    command: Any = typer.main.get_command(app)
    ctx = typer.Context(command, info_name="gatekeeper")
    while hasattr(command, "get_command"):  # a group: descend to the named subcommand
        name, *args = args
        sub = command.get_command(ctx, name)
        assert sub is not None, f"unknown command {name!r}"
        leaf = not hasattr(sub, "get_command")
        ctx = (
            sub.make_context(name, list(args), parent=ctx)
            if leaf
            else typer.Context(sub, info_name=name, parent=ctx)
        )
        command = sub
    return ctx


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_gatekeeper_command_in_the_examples_parses(example: Path, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.chdir(tmp_path)  # the paths the job would have made: the trained folder, the tags file
    (tmp_path / "out" / "intent-model").mkdir(parents=True)
    (tmp_path / "lineage.yaml").write_text("label_version: 47\n")
    commands = invocations(example)
    assert any(c[:1] == ["submit"] for c in commands), commands
    for args in commands:
        assert parse_only(args).info_name == args[0]


def test_a_wrong_option_would_be_caught(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m").mkdir()
    with pytest.raises(typer.TyperException):
        parse_only(["submit", "m", "--target", "t", "--no-such-option"])
    with pytest.raises(typer.TyperException):
        parse_only(["submit", "m"])  # --target is required
