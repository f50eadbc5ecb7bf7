"""``gatekeeper submit``: the one command a CI job runs. Exit 0 pass, 1 fail, 2 usage or
infrastructure error (the verdict's code comes from ``evaluation.verdicts.exit_code``, the one mapping)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from gatekeeper.artifacts.store import STORE_SCHEME
from gatekeeper.artifacts.submit import ci_metadata, resolve_tags
from gatekeeper.cli_common import JsonOpt, TokenOpt, UrlOpt, client, fail, parse_tags
from gatekeeper.client import ApiError, Client
from gatekeeper.errors import GatekeeperError
from gatekeeper.evaluation.cli import follow, state_exit_code
from gatekeeper.evaluation.verdicts import EXIT_INFRASTRUCTURE
from gatekeeper.registry.artifacts import artifact_sha256

INFRA = EXIT_INFRASTRUCTURE


def _tags_file(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(loaded, dict):
        raise typer.BadParameter("must be a YAML or JSON mapping of tag: value", param_hint="--tags-file")
    return loaded


def _upload(api: Client, path: Path) -> tuple[str, bool]:
    """Hash locally; upload only what the store lacks."""
    digest = artifact_sha256(path)
    if api.artifact_present(digest):
        typer.echo(f"artifact {STORE_SCHEME}{digest[:12]}… already stored; upload skipped", err=True)
        return digest, False
    typer.echo(f"uploading {path} as {STORE_SCHEME}{digest[:12]}…", err=True)
    api.upload_artifact(path, digest)
    return digest, True


def _evaluation_id(api: Client, candidate: dict[str, Any]) -> str:
    """Queue the gate for a new candidate; a re-run of the same artifact follows its latest evaluation."""
    if candidate["status"] == "registered":
        queued = api.post(f"/v1/candidates/{candidate['id']}/evaluations", {})
        typer.echo(f"evaluation {queued['id']} queued for v{candidate['version']}", err=True)
        return queued["id"]
    earlier = api.get(f"/v1/candidates/{candidate['id']}/evaluations")
    where = f"candidate v{candidate['version']} is {candidate['status']}"
    if not earlier:
        fail(f"{where} with no evaluation to report", INFRA)
    typer.echo(f"{where} already; reporting its latest gate", err=True)
    return earlier[0]["id"]


def _publish(result: dict[str, Any], markdown: str, report_md: Path | None, as_json: bool) -> None:
    """Markdown to stdout (or JSON with --json), to --report-md, and to GitHub's step summary."""
    if report_md:
        report_md.write_text(markdown, encoding="utf-8")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as out:
            out.write(markdown.rstrip("\n") + "\n\n")
    typer.echo(json.dumps(result, indent=2, sort_keys=True) if as_json else markdown)


def _run(api: Client, path: Path, target: str, tags: dict[str, str], wait: tuple[float, float]) -> tuple:
    digest, uploaded = _upload(api, path)
    body = {
        "target": target,
        "artifact_uri": STORE_SCHEME + digest,
        "artifact_sha256": digest,
        "tags": tags,
        "metadata": ci_metadata(os.environ),
    }
    candidate = api.post("/v1/candidates", body)
    evaluation_id = _evaluation_id(api, candidate)
    state = follow(api, evaluation_id, timeout=wait[0], poll=wait[1])
    markdown = api.get(f"/v1/evaluations/{evaluation_id}/report", format="md")
    result = {
        "artifact_uri": STORE_SCHEME + digest,
        "uploaded": uploaded,
        "candidate_id": candidate["id"],
        "version": candidate["version"],
        "evaluation_id": evaluation_id,
        "status": state.status,
        "verdict": (state.decision or {}).get("verdict"),
        "error": state.error,
        "exit_code": state_exit_code(state),
    }
    return result, markdown


def submit(
    path: Annotated[Path, typer.Argument(exists=True, help="Model folder or file, anywhere here.")],
    target: Annotated[str, typer.Option(help="Target name.")],
    tag: Annotated[list[str], typer.Option("--tag", help="Lineage tag KEY=VALUE (wins over the rest).")] = [],  # noqa: B006, E501
    tags_file: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="YAML/JSON mapping of lineage tags.")
    ] = None,
    report_md: Annotated[Path | None, typer.Option(help="Also write the Markdown summary here.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the gate (then exit 2).")] = 3600,
    poll: Annotated[float, typer.Option(help="Seconds a status read waits for a change (long-poll).")] = 2.0,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Hash, upload (unless stored), register, gate, wait, print the summary: exit 0 pass, 1 fail, 2 usage or
    infrastructure error, 3 inconclusive."""
    tags = resolve_tags(target, parse_tags(tag), _tags_file(tags_file), os.environ)
    try:
        result, markdown = _run(client(url, token), path, target, tags, (timeout, poll))
    except ApiError as exc:
        fail(f"{exc.detail}" + (f" (HTTP {exc.status})" if exc.status else ""), INFRA)
    except GatekeeperError as exc:
        fail(exc.detail, INFRA)
    _publish(result, markdown, report_md, as_json)
    raise typer.Exit(result["exit_code"])
