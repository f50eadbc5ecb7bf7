"""``gatekeeper train intent|reranker|qlora``: run a trainer here and record the run (and, with
--register, the candidate) in the registry, exactly as the worker does for queued runs."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from gatekeeper.cli_common import fail, local_actor
from gatekeeper.config import PROJECT_ROOT, get_settings


def _git_revision() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _default_tags(trainer: str, config: dict[str, Any]) -> dict[str, str]:
    """Lineage that can be read off the code and the data rather than typed by hand."""
    from evalsets.manifest import load_manifest
    from gatekeeper.training import trainers

    spec = trainers.get(trainer)
    folder = Path(config.get("evalset_dir") or f"evalsets/{spec.target}")
    folder = folder if folder.is_absolute() else get_settings().evalset_root / folder
    tags: dict[str, str] = {"model_target": spec.target}
    if (folder / "manifest.yaml").is_file():
        manifest = load_manifest(folder)
        train = next((e for e in manifest["files"].values() if e["role"] == "train"), None)
        tags["data_snapshot_id"] = f"{manifest['name']}@{manifest['version']}" + (
            f":{train['sha256'][:12]}" if train else ""
        )
        tags["label_version"] = str(manifest["version"])
        tags["feature_schema_version"] = str(manifest.get("feature_schema_version", "raw-text-v1"))
    if revision := _git_revision():
        tags["code_revision"] = revision
    seed = config.get("seed", spec.config_class().model_fields["seed"].default)
    tags["seed"] = str(seed)
    return tags


def _pairs(values: list[str], option: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in values:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint=option)
        out[key.strip()] = yaml.safe_load(value) if option == "--set" else value
    return out


def train(
    trainer: Annotated[str, typer.Argument(help="intent | reranker | qlora")],
    config: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="Trainer options (YAML).")
    ] = None,
    set_: Annotated[list[str], typer.Option("--set", help="Override an option, KEY=VALUE.")] = [],  # noqa: B006
    tag: Annotated[list[str], typer.Option("--tag", help="Lineage tag KEY=VALUE.")] = [],  # noqa: B006
    epochs: Annotated[int | None, typer.Option(help="Shortcut for --set epochs=N.")] = None,
    max_train_examples: Annotated[int | None, typer.Option(help="Train on a stratified subset.")] = None,
    register: Annotated[bool, typer.Option("--register", help="Register the output as a candidate.")] = False,
) -> None:
    """Train a model and record the run with its six lineage tags (no anonymous runs)."""
    from gatekeeper.db import Database
    from gatekeeper.training import service as training

    options = _options(config, set_, epochs, max_train_examples)
    given = dict(options.pop("tags", {}) or {})
    tags = {**_default_tags(trainer, options), **given, **_pairs(tag, "--tag")}
    settings = get_settings()
    db = Database.from_url(settings.database_url)
    with db.transaction() as session:
        request = training.RunRequest(trainer, options, tags, register)
        run = training.create_run(session, request, actor=local_actor(), settings=settings, enqueue=False)
        run_id = run.id
    typer.echo(f"training run {run_id} ({trainer}) tags: {tags}", err=True)
    try:
        done = training.execute(db, settings, run_id, echo=lambda line: typer.echo(line, err=True))
    except Exception as exc:  # recorded as failed already; one readable line here
        fail(f"training run {run_id} failed: {exc}")
    _show(run_id, done)


def _options(
    config: Path | None, set_: list[str], epochs: int | None, max_train_examples: int | None
) -> dict[str, Any]:
    """The trainer's options: the config file, then --set pairs, then the shortcuts."""
    options: dict[str, Any] = yaml.safe_load(config.read_text(encoding="utf-8")) if config else {}
    if not isinstance(options, dict):
        raise typer.BadParameter("the config file must be a YAML mapping", param_hint="--config")
    options.update(_pairs(set_, "--set"))
    if epochs is not None:
        options["epochs"] = epochs
    if max_train_examples is not None:
        options["max_train_examples"] = max_train_examples
    return options


def _show(run_id: uuid.UUID, done: Any) -> None:
    """One line of final metrics, the output, and the candidate when one was registered."""
    final = done.metrics.get("final", {})
    shown = ", ".join(f"{k}={v:.4f}" for k, v in final.items() if isinstance(v, float))
    typer.echo(f"training run {run_id} succeeded in {done.metrics.get('wall_seconds')}s: {shown}")
    typer.echo(f"output {done.output_uri} sha256={done.output_sha256}")
    if "registered_candidate_id" in done.metrics:
        typer.echo(
            f"registered candidate {done.metrics['registered_candidate_id']} "
            f"(v{done.metrics['registered_version']})"
        )
