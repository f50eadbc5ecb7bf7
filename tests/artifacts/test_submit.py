"""``gatekeeper submit`` end to end: a real subprocess against a real server with a worker running,
from a model folder outside the artifact root to a verdict, an exit code and GitHub's step summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gatekeeper.artifacts.submit import ci_metadata, resolve_tags
from gatekeeper.cli import app
from gatekeeper.jobs.handlers import install
from gatekeeper.jobs.worker import Worker
from tests.artifacts.conftest import gate_body
from tests.conftest import ROOT

SHA = "9f1c2d3e4b5a69788796a5b4c3d2e1f0a9b8c7d6"


@pytest.fixture
def worker_thread(db, settings) -> Iterator[None]:  # noqa: ANN001
    """A worker polling the queue in this process while the CLI waits in another."""
    install()
    worker, stop = Worker(db, settings, echo=lambda _: None), threading.Event()

    def loop() -> None:
        while not stop.is_set():
            if not worker.run_once():
                stop.wait(0.1)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=30)


def _submit(model: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "gatekeeper", "submit", str(model), "--poll", "0.2", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)  # the engines are covered by test_flow
def test_submit_exits_0_on_pass_1_on_fail_and_writes_the_step_summary(
    api,
    auth,
    tokens,
    live_server,
    worker_thread,
    tiny_intent_model,
    small_evalset,
    tmp_path,  # noqa: ANN001
) -> None:
    for name, floor in (("intent_classifier", 0.0), ("intent_strict", 0.99)):
        assert (
            api.post(
                "/v1/targets", json=gate_body(small_evalset, floor, name), headers=auth("admin")
            ).status_code
            == 201
        )
    tags_file = tmp_path / "tags.yaml"
    tags_file.write_text("data_snapshot_id: snap-1\nlabel_version: 47\nfeature_schema_version: v3\n")
    summary = tmp_path / "step-summary.md"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "GATEKEEPER_URL": live_server.url,
        "GATEKEEPER_TOKEN": tokens["ci"],
        "GITHUB_SHA": SHA,
        "GITHUB_REPOSITORY": "acme/manga",
        "GITHUB_RUN_ID": "77",
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    tagged = ("--tags-file", str(tags_file), "--tag", "seed=42")
    passed = _submit(
        tiny_intent_model,
        env,
        "--target",
        "intent_classifier",
        *tagged,
        "--report-md",
        str(tmp_path / "r.md"),
    )
    assert passed.returncode == 0, passed.stderr
    assert "uploading" in passed.stderr and "[done]" in passed.stderr
    assert (tmp_path / "r.md").read_text() in summary.read_text() and "PASS" in passed.stdout.upper()

    failed = _submit(tiny_intent_model, env, "--target", "intent_strict", *tagged, "--json")
    assert failed.returncode == 1, failed.stderr
    result = json.loads(failed.stdout)
    assert result["verdict"] == "fail" and result["uploaded"] is False  # HEAD said stored: no re-upload
    assert "upload skipped" in failed.stderr
    headings = [line for line in summary.read_text().splitlines() if line.startswith("## ")]
    assert "PASS: intent_classifier v1" in headings[0] and "FAIL: intent_strict v1" in headings[-1]

    candidate = api.get(f"/v1/candidates/{result['candidate_id']}", headers=auth("ci")).json()
    assert candidate["tags"]["code_revision"] == SHA and candidate["tags"]["label_version"] == "47"
    assert candidate["metadata"]["ci_run_url"] == "https://github.com/acme/manga/actions/runs/77"

    # an infrastructure refusal is exit 2 (in-process: a third interpreter would only add start-up time)
    args = ["submit", str(tiny_intent_model), "--target", "intent_classifier", "--url", live_server.url]
    no_token = CliRunner().invoke(app, args, env={"GATEKEEPER_TOKEN": ""})
    assert no_token.exit_code == 2 and "HTTP 401" in no_token.output, no_token.output


def test_tags_come_from_flags_then_file_then_ci_env() -> None:
    env = {"CI_COMMIT_SHA": "abc", "CI_PIPELINE_URL": "https://gitlab.example/p/1"}
    tags = resolve_tags("t", {"seed": "7"}, {"seed": 1, "code_revision": "file"}, env)
    assert tags == {"model_target": "t", "code_revision": "file", "seed": "7"}
    assert resolve_tags("t", {}, {}, env)["code_revision"] == "abc"
    assert resolve_tags("t", {}, {}, {"GITHUB_SHA": "g", "CI_COMMIT_SHA": "c"})["code_revision"] == "g"
    assert ci_metadata(env) == {"ci_run_url": "https://gitlab.example/p/1"} and ci_metadata({}) == {}
