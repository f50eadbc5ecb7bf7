"""The ``gatekeeper`` command. Exit codes: 0 success, 1 refused (gate fail, validation, an API 4xx),
2 usage, configuration or infrastructure error (API unreachable or 5xx), 3 an inconclusive gate."""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from gatekeeper.cli_common import (
    JsonOpt,
    TokenOpt,
    UrlOpt,
    client,
    fail,
    local_actor,
    local_sha,
    parse_tags,
    show,
)
from gatekeeper.client import ApiError, plain, refused_locally
from gatekeeper.config import get_settings
from gatekeeper.errors import ConfigError, GatekeeperError
from gatekeeper.evaluation.verdicts import EXIT_INFRASTRUCTURE
from gatekeeper.registry.schemas import CandidateCreate, TargetCreate

app = typer.Typer(
    help="Gatekeeper: the evaluation and governance gate for MangaAssist models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema (Alembic).", no_args_is_help=True)
token_app = typer.Typer(help="API tokens (local admin operation on the database).", no_args_is_help=True)
target_app = typer.Typer(help="Targets and their policies (through the API).", no_args_is_help=True)
candidate_app = typer.Typer(help="Candidates: submit, list, show (through the API).", no_args_is_help=True)
artifact_app = typer.Typer(help="Artifact utilities.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(token_app, name="token")
app.add_typer(target_app, name="target")
app.add_typer(candidate_app, name="candidate")
app.add_typer(artifact_app, name="artifact")

# --- db ---------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Create or upgrade the schema of GATEKEEPER_DATABASE_URL."""
    from gatekeeper.migrate import upgrade

    url = get_settings().database_url
    upgrade(url, revision)
    typer.echo(f"database at {url.split('@')[-1]} is at revision {revision}")


def _or_fail(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a local operation; a refusal is one line on stderr and exit 1 (CliRunner skips main())."""
    try:
        return call(*args, **kwargs)
    except GatekeeperError as exc:
        fail(exc.detail)


@db_app.command("backup")
def db_backup(
    file: Annotated[Path, typer.Argument(help="Where to write the backup.")],
    force: Annotated[bool, typer.Option(help="Overwrite FILE if it exists.")] = False,
) -> None:
    """Copy the whole database to FILE (pg_dump custom format on Postgres, a SQLite file on SQLite)."""
    from gatekeeper import backup

    size = _or_fail(backup.backup, get_settings().database_url, file, force=force)
    typer.echo(f"backup written to {file} ({size} bytes)")


@db_app.command("restore")
def db_restore(
    file: Annotated[Path, typer.Argument(help="A file written by `gatekeeper db backup`.")],
    force: Annotated[bool, typer.Option(help="Replace a database that already holds data.")] = False,
) -> None:
    """Replace the database with FILE, then verify its audit chain (exit 1 if it does not verify)."""
    from gatekeeper import backup
    from gatekeeper.registry.cli import verify

    _or_fail(backup.restore, get_settings().database_url, file, force=force)
    typer.echo(f"restored from {file}")
    verify()


# --- serve ------------------------------------------------------------------------------------


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> None:
    """Run the HTTP API (OpenAPI docs at /docs)."""
    import uvicorn

    get_settings()  # refuse bad configuration before binding the port
    from uvicorn.config import LOGGING_CONFIG

    # uvicorn's access log off: the app writes the same line itself (to gatekeeper.access, through
    # uvicorn's access handler), less the fleet's successful routing polls
    logs = copy.deepcopy(LOGGING_CONFIG)
    logs["loggers"]["gatekeeper.access"] = {"handlers": ["access"], "level": "INFO", "propagate": False}
    app = "gatekeeper.api.main:app"
    uvicorn.run(app, host=host, port=port, workers=workers, log_config=logs, access_log=False)


# --- tokens -----------------------------------------------------------------------------------


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Option(help="Who or what uses the token, e.g. ci-intent.")],
    role: Annotated[str, typer.Option(help="ci | serving | reviewer | oncall | admin")],
) -> None:
    """Create a token and print its secret once (only its sha256 is stored)."""
    from gatekeeper.db import Database
    from gatekeeper.registry.auth import create_token

    db = Database.from_url(get_settings().database_url)
    with db.transaction() as session:
        token, secret = create_token(session, name=name, role=role, actor=local_actor())
        typer.echo(f"token {token.name} ({token.role}) created; this secret is shown once:", err=True)
    typer.echo(secret)


@token_app.command("list")
def token_list(as_json: JsonOpt = False) -> None:
    """List tokens (names and roles, never secrets)."""
    from gatekeeper.db import Database
    from gatekeeper.registry.auth import list_tokens

    db = Database.from_url(get_settings().database_url)
    with db.session() as session:
        rows = [
            {
                "name": t.name,
                "role": t.role,
                "created_at": t.created_at.isoformat(),
                "revoked": t.revoked_at is not None,
            }
            for t in list_tokens(session)
        ]
    show(
        rows,
        as_json,
        [f"{r['name']:<24} {r['role']:<9} {'revoked' if r['revoked'] else 'active'}" for r in rows]
        or ["no tokens"],
    )


@token_app.command("revoke")
def token_revoke(name: str) -> None:
    """Revoke a token; it stops working at once."""
    from gatekeeper.db import Database
    from gatekeeper.registry.auth import revoke_token

    db = Database.from_url(get_settings().database_url)
    with db.transaction() as session:
        revoke_token(session, name=name, actor=local_actor())
    typer.echo(f"token {name} revoked")


# --- targets ----------------------------------------------------------------------------------


@target_app.command("create")
def target_create(
    name: Annotated[str, typer.Option(help="Target name, e.g. intent_classifier.")],
    task: Annotated[str, typer.Option(help="classification | ranking | generation")],
    policy: Annotated[Path, typer.Option(exists=True, dir_okay=False, readable=True, help="Policy YAML.")],
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a target with its policy (admin token)."""
    spec = TargetCreate(name=name, task=task, policy=policy.read_text(encoding="utf-8"))  # type: ignore[arg-type]
    data = plain(client(url, token).create_target(spec))
    show(
        data,
        as_json,
        [f"target {data['name']} ({data['task']}) created with policy v{data['policy_version']}"],
    )


@target_app.command("list")
def target_list(url: UrlOpt = None, token: TokenOpt = None, as_json: JsonOpt = False) -> None:
    """List targets."""
    data = plain(client(url, token).list_targets())
    show(
        data,
        as_json,
        [f"{t['name']:<24} {t['task']:<15} policy v{t['policy_version']}" for t in data] or ["no targets"],
    )


# --- candidates -------------------------------------------------------------------------------


def _candidate_lines(c: dict[str, Any]) -> list[str]:
    return [
        f"candidate {c['id']}",
        f"  target   {c['target']} v{c['version']}",
        f"  status   {c['status']}",
        f"  artifact {c['artifact_uri']} sha256={c['artifact_sha256'][:12]}…",
        *(f"  {k:<22} {v}" for k, v in c["tags"].items()),
    ]


@candidate_app.command("submit")
def candidate_submit(
    target: Annotated[str, typer.Option(help="Target name.")],
    artifact: Annotated[str, typer.Option(help="Artifact path or file:// URI under the artifact root.")],
    tag: Annotated[list[str], typer.Option("--tag", help="Lineage tag KEY=VALUE (six required).")] = [],  # noqa: B006
    sha256: Annotated[str | None, typer.Option(help="Artifact sha256 (computed locally if omitted).")] = None,
    training_run: Annotated[str | None, typer.Option(help="Training run id.")] = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a candidate with its lineage (ci token). Re-submitting the same artifact is a no-op."""
    spec = CandidateCreate(
        target=target,
        artifact_uri=artifact,
        artifact_sha256=sha256 or local_sha(artifact),
        tags=parse_tags(tag),
        training_run_id=training_run,  # type: ignore[arg-type]
    )
    data = plain(client(url, token).register(spec))
    show(data, as_json, _candidate_lines(data))


@candidate_app.command("list")
def candidate_list(
    target: Annotated[str | None, typer.Option(help="Filter by target.")] = None,
    status: Annotated[str | None, typer.Option(help="Filter by status.")] = None,
    limit: int = 50,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List candidates, newest first."""
    data = plain(client(url, token).list_candidates(target=target, status=status, limit=limit))
    show(
        data,
        as_json,
        [f"{c['target']:<20} v{c['version']:<4} {c['status']:<17} {c['id']}" for c in data["items"]]
        or ["no candidates"],
    )


@candidate_app.command("show")
def candidate_show(
    candidate_id: str, url: UrlOpt = None, token: TokenOpt = None, as_json: JsonOpt = False
) -> None:
    """Show one candidate with its lineage."""
    data = plain(client(url, token).get_candidate(candidate_id))
    show(data, as_json, _candidate_lines(data))


# --- artifacts --------------------------------------------------------------------------------


@artifact_app.command("hash")
def artifact_hash(path: Annotated[Path, typer.Argument(exists=True, help="File or folder.")]) -> None:
    """Print the artifact sha256 (folders: sha256 over sorted 'relpath<TAB>sha256' lines)."""
    from gatekeeper.registry.artifacts import artifact_sha256

    typer.echo(artifact_sha256(path))


def _register_domain_commands() -> None:
    """Commands of the other domains, kept beside the code they drive."""
    from dashboards import cli as dashboards_cli
    from evalsets.cli import evalsets_app
    from gatekeeper import standalone
    from gatekeeper.artifacts import cli as artifacts_cli
    from gatekeeper.canary import backtest_cli
    from gatekeeper.canary import cli as canary_cli
    from gatekeeper.drift import cli as drift_cli
    from gatekeeper.evaluation import cli as evaluation_cli
    from gatekeeper.jobs import cli as jobs_cli
    from gatekeeper.promotion import cli as promotion_cli
    from gatekeeper.registry import cli as registry_cli
    from gatekeeper.training import cli as training_cli

    app.command()(evaluation_cli.evaluate)
    app.command()(artifacts_cli.submit)
    app.command()(evaluation_cli.report)
    app.command()(jobs_cli.worker)
    app.command()(training_cli.train)
    app.add_typer(promotion_cli.shadow_app, name="shadow")
    app.command("canary-daemon")(canary_cli.canary_daemon)
    app.command()(backtest_cli.backtest)
    app.command("drift-daemon")(drift_cli.drift_daemon)
    app.command()(dashboards_cli.dashboard)
    app.add_typer(evalsets_app, name="evalsets")
    app.add_typer(registry_cli.audit_app, name="audit")
    app.command("standalone")(standalone.command)


_register_domain_commands()


def main() -> None:
    from gatekeeper.quiet import quiet_libraries

    quiet_libraries()
    try:
        app()
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        sys.exit(2)
    except ApiError as exc:
        typer.echo(f"error: {exc.detail}" + (f" (HTTP {exc.status})" if exc.status else ""), err=True)
        sys.exit(EXIT_INFRASTRUCTURE if exc.status == 0 or exc.status >= 500 else 1)  # a refusal is 1
    except GatekeeperError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        sys.exit(1)
    except ValidationError as exc:  # a body the client refuses before sending, by the API's own schema
        typer.echo(f"error: {refused_locally(exc).detail}", err=True)
        sys.exit(1)
