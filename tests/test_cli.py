"""The CLI against a live server and a real database: exit codes 0 / 1 / 2 and readable errors."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from gatekeeper.cli import app
from tests.conftest import POLICY_FILE, TAGS

runner = CliRunner()


@pytest.fixture
def env(settings, live_server, monkeypatch):  # noqa: ANN001, ANN201
    monkeypatch.setenv("GATEKEEPER_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("GATEKEEPER_ARTIFACT_ROOT", str(settings.artifact_root))
    monkeypatch.setenv("GATEKEEPER_URL", live_server.url)
    from gatekeeper.config import get_settings

    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def run(*args: str, token: str | None = None):  # noqa: ANN201
    return runner.invoke(app, list(args), env={"GATEKEEPER_TOKEN": token} if token else None)


def test_token_lifecycle_prints_secret_once_and_stores_hash(env, db) -> None:
    from sqlalchemy import select

    from gatekeeper.registry.models import ApiToken

    created = run("token", "create", "--name", "ci-intent", "--role", "ci")
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("gk_")
    with db.session() as session:
        stored = session.scalar(select(ApiToken).where(ApiToken.name == "ci-intent"))
    assert stored is not None and secret not in stored.secret_sha256 and len(stored.secret_sha256) == 64
    listed = run("token", "list")
    assert "ci-intent" in listed.stdout and secret not in listed.stdout
    assert run("token", "create", "--name", "ci-intent", "--role", "ci").exit_code == 1
    assert run("token", "create", "--name", "x", "--role", "superuser").exit_code == 1
    assert run("token", "revoke", "ci-intent").exit_code == 0
    assert "revoked" in run("token", "list").stdout


def test_register_story_through_the_cli(env, tokens, make_artifact, settings) -> None:
    made = run(
        "target",
        "create",
        "--name",
        "intent_classifier",
        "--task",
        "classification",
        "--policy",
        str(POLICY_FILE),
        token=tokens["admin"],
    )
    assert made.exit_code == 0, made.output
    uri, sha = make_artifact()
    tag_args = [arg for k, v in TAGS.items() for arg in ("--tag", f"{k}={v}")]
    submitted = run(
        "candidate",
        "submit",
        "--target",
        "intent_classifier",
        "--artifact",
        uri,
        *tag_args,
        "--json",
        token=tokens["ci"],
    )
    assert submitted.exit_code == 0, submitted.output
    assert '"version": 1' in submitted.stdout and sha in submitted.stdout  # sha computed locally
    listed = run("candidate", "list", "--target", "intent_classifier", token=tokens["reviewer"])
    assert "v1" in listed.stdout and "registered" in listed.stdout
    hashed = run("artifact", "hash", str(settings.artifact_root / uri))
    assert hashed.stdout.strip() == sha


def test_refusals_exit_1_with_one_readable_line(env, tokens, make_artifact, target) -> None:
    uri, _ = make_artifact()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gatekeeper",
            "candidate",
            "submit",
            "--target",
            "intent_classifier",
            "--artifact",
            uri,
            "--tag",
            "seed=1",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "GATEKEEPER_TOKEN": tokens["ci"]},
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: missing or empty lineage tags: model_target")
    assert "(HTTP 422)" in lines[0]


def test_missing_token_exits_1(env, target) -> None:
    no_token = subprocess.run(
        [sys.executable, "-m", "gatekeeper", "target", "list"],
        capture_output=True,
        text=True,
        env={**os.environ, "GATEKEEPER_TOKEN": ""},
    )
    assert no_token.returncode == 1 and "HTTP 401" in no_token.stderr


def test_usage_errors_exit_2() -> None:
    assert run("candidate", "submit").exit_code == 2
    assert run("no-such-command").exit_code == 2


def test_bad_configuration_is_refused_in_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gatekeeper", "token", "list"],
        capture_output=True,
        text=True,
        env={**os.environ, "GATEKEEPER_DATABASE_URL": "mysql://x"},
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "configuration error: GATEKEEPER_DATABASE_URL: Value error, must start with sqlite:// or postgresql+psycopg://"
    )


def test_api_unreachable_is_an_infrastructure_error_exit_2() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gatekeeper", "target", "list", "--url", "http://127.0.0.1:9"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "cannot reach Gatekeeper" in result.stderr


def test_evalsets_build_checks_the_committed_sets_and_refuses_unknown_targets(tmp_path) -> None:  # noqa: ANN001
    checked = runner.invoke(app, ["evalsets", "build", "generator", "--check"])
    assert checked.exit_code == 0, checked.output
    assert "byte-identical" in checked.output
    built = runner.invoke(app, ["evalsets", "build", "generator", "--out", str(tmp_path), "--seed", "7"])
    assert built.exit_code == 0, built.output
    assert (tmp_path / "manifest.yaml").is_file() and "seed 7" in built.output
    unknown = runner.invoke(app, ["evalsets", "build", "nope"])
    assert unknown.exit_code == 2
    assert "unknown evalset target 'nope'" in unknown.output
