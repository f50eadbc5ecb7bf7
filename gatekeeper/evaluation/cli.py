"""``gatekeeper evaluate`` and ``gatekeeper report``: what CI runs to fail a build on the gate."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from gatekeeper.cli_common import TokenOpt, UrlOpt, client, fail, local_sha
from gatekeeper.client import Client
from gatekeeper.evaluation.verdicts import EXIT_INFRASTRUCTURE, exit_code


def _queue(api: Client, candidate_id: str, predictions: str | None) -> dict[str, Any]:
    body = (
        {"predictions_uri": predictions, "predictions_sha256": local_sha(predictions)} if predictions else {}
    )
    queued = api.post(f"/v1/candidates/{candidate_id}/evaluations", body)
    typer.echo(f"evaluation {queued['id']} queued ({queued['mode']} mode)", err=True)
    return queued


def _progress_line(state: dict[str, Any]) -> str:
    progress = state.get("progress") or {}
    return f"[{state['status']}] {progress.get('stage', '')}" + (
        f" {progress['done']}/{progress['total']}" if progress.get("total") else ""
    )


def wait_for(api: Client, evaluation_id: str, *, timeout: float, poll: float) -> dict[str, Any]:
    """Poll until the evaluation is done or errored, echoing each new progress line to stderr."""
    deadline, last = time.monotonic() + timeout, None
    while True:
        state = api.get(f"/v1/evaluations/{evaluation_id}", results="false")
        line = _progress_line(state)
        if line != last:
            typer.echo(line, err=True)
            last = line
        if state["status"] in ("done", "error"):
            return state
        if time.monotonic() > deadline:
            fail(
                f"evaluation {evaluation_id} still {state['status']} after {timeout:.0f}s "
                "(is a worker running?)",
                EXIT_INFRASTRUCTURE,
            )
        time.sleep(poll)


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
    poll: Annotated[float, typer.Option(help="Seconds between progress polls.")] = 2.0,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Queue the five-mode offline gate for a candidate (ci token); with --wait print the Markdown summary."""
    api = client(url, token)
    queued = _queue(api, candidate_id, predictions)
    if not wait:
        typer.echo(queued["id"])
        return
    state = wait_for(api, queued["id"], timeout=timeout, poll=poll)
    typer.echo(api.get(f"/v1/evaluations/{queued['id']}/report", format="md"))
    if state["status"] == "error":
        fail(f"evaluation errored: {state['error']}", EXIT_INFRASTRUCTURE)
    code = state_exit_code(state)
    if code:
        raise typer.Exit(code)


def state_exit_code(state: dict[str, Any]) -> int:
    """A finished evaluation's exit status (``evaluate --wait`` and ``submit``): the verdict's, or 2 when
    the evaluation errored and so has no verdict."""
    if state["status"] == "error":
        return EXIT_INFRASTRUCTURE
    return exit_code((state.get("decision") or {}).get("verdict"))


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
    body = client(url, token).get(f"/v1/evaluations/{evaluation_id}/report", format=format)
    text = body if isinstance(body, str) else json.dumps(body, indent=2, ensure_ascii=False)
    if out:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out}")
    else:
        typer.echo(text)
