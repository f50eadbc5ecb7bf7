"""``gatekeeper evaluate`` and ``gatekeeper report``: what CI runs to fail a build on the gate."""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path
from typing import Annotated, TextIO

import typer

from gatekeeper.cli_common import TokenOpt, UrlOpt, client, fail, local_sha
from gatekeeper.client import Client
from gatekeeper.evaluation.progress import progress_line
from gatekeeper.evaluation.schemas import EvaluationCreate, EvaluationRead
from gatekeeper.evaluation.verdicts import EXIT_INFRASTRUCTURE, exit_code


def evaluate(
    candidate_id: Annotated[str, typer.Argument(help="Candidate id.")],
    predictions: Annotated[
        str | None,
        typer.Option(
            help="Submitted predictions JSONL under the artifact root (for models that run elsewhere)."
        ),
    ] = None,
    wait: Annotated[
        bool,
        typer.Option("--wait/--no-wait", help="Wait for the decision; exit 0 pass, 1 fail, 3 inconclusive."),
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait before giving up (exit 2).")] = 3600,
    poll: Annotated[
        float, typer.Option(help="Seconds a status read waits for a change (long-poll) before asking again.")
    ] = 2.0,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Queue the five-mode offline gate for a candidate (ci token); with --wait print the Markdown summary."""
    api = client(url, token)
    spec = (
        EvaluationCreate(predictions_uri=predictions, predictions_sha256=local_sha(predictions))
        if predictions
        else None
    )
    queued = api.request_evaluation(candidate_id, spec)
    typer.echo(f"evaluation {queued['id']} queued ({queued['mode']} mode)", err=True)
    if not wait:
        typer.echo(queued["id"])
        return
    state = follow(api, queued["id"], timeout=timeout, poll=poll)
    typer.echo(api.evaluation_report(state.id, format="md"))
    if state.status == "error":
        fail(f"evaluation errored: {state.error}", EXIT_INFRASTRUCTURE)
    code = state_exit_code(state)
    if code:
        raise typer.Exit(code)


def state_exit_code(state: EvaluationRead) -> int:
    """A finished evaluation's exit status (``evaluate --wait`` and ``submit``): the verdict's, or 2 when
    the evaluation errored and so has no verdict."""
    if state.status == "error":
        return EXIT_INFRASTRUCTURE
    return exit_code((state.decision or {}).get("verdict"))


def follow(api: Client, evaluation_id: str, *, timeout: float, poll: float) -> EvaluationRead:
    """Follow the evaluation until it is done or errored, keeping one live progress line on stderr. Each
    read waits on the server until the evaluation changes (at most ``poll`` seconds), so the decision
    is seen when it is recorded."""
    line = LiveLine(sys.stderr)
    deadline = time.monotonic() + timeout
    while True:
        state = api.get_evaluation(evaluation_id, results=False, wait=poll)
        line.show(progress_line(state.progress, state.status))
        if state.status in ("done", "error"):
            line.close()
            return state
        if time.monotonic() > deadline:
            line.close()
            waited = f"still {state.status} after {timeout:.0f}s (is a worker running?)"
            fail(f"evaluation {evaluation_id} {waited}", EXIT_INFRASTRUCTURE)


class LiveLine:
    """One status line rewritten in place on a terminal; elsewhere (CI logs) a new line per change."""

    def __init__(self, stream: TextIO) -> None:
        self.stream, self.last, self.tty = stream, "", stream.isatty()

    def show(self, text: str) -> None:
        if text == self.last:
            return
        if self.tty:
            self.stream.write("\r\x1b[2K" + text[: shutil.get_terminal_size().columns - 1])
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
        self.last = text

    def close(self) -> None:
        if self.tty and self.last:
            self.stream.write("\n")
            self.stream.flush()


def report(
    evaluation_id: Annotated[str, typer.Argument(help="Evaluation id.")],
    format: Annotated[str, typer.Option("--format", "-f", help="json | md | html")] = "md",  # noqa: A002
    out: Annotated[Path | None, typer.Option(help="Write to this file instead of stdout.")] = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Render an evaluation's report (the decision first, then the evidence)."""
    if format not in ("json", "md", "html"):
        raise typer.BadParameter("one of json, md, html", param_hint="--format")
    body = client(url, token).evaluation_report(evaluation_id, format=format)  # type: ignore[arg-type]
    text = body if isinstance(body, str) else json.dumps(body, indent=2, ensure_ascii=False)
    if out:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out}")
    else:
        typer.echo(text)
