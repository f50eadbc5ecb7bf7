"""A running evaluation shows its progress: per mode, examples scored out of total and the modes
finished, in the worker's log, through the API while it runs, and on ``gatekeeper evaluate --wait``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from gatekeeper.client import Client
from gatekeeper.evaluation import evalset as evalsets
from gatekeeper.jobs.handlers import install
from gatekeeper.jobs.worker import Worker
from gatekeeper.registry.schemas import CandidateCreate, TargetCreate
from tests.conftest import ROOT, TAGS
from tests.gate.conftest import gate_policy

# A real setting, raised so the measurements last long enough for a 0.2 s poll to see them.
SLOW_RESAMPLES = 4000


def _submission(folder: Path, evalset: Path) -> str:
    """A predictions file for every example (the true label where there is one), as a team that runs
    its model elsewhere would submit it."""
    loaded = evalsets.load(evalset)
    lines = []
    for f in loaded.files.values():
        for row in f.rows:
            label = row.get("label") or row.get("served_label") or loaded.labels[0]
            lines.append(
                json.dumps(
                    {"id": row["id"], "prediction": label, "probabilities": {label: 1.0}, "latency_ms": 5.0}
                )
            )
    (folder / "predictions.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return "predictions.jsonl"


def _stderr_lines(proc: subprocess.Popen[str], lines: list[str], queued: threading.Event) -> None:
    for line in proc.stderr or []:
        lines.append(line.rstrip("\n"))
        if " queued " in line:
            queued.set()


def test_progress_in_the_worker_log_the_api_and_the_cli(
    db, settings, live_server, tokens, make_artifact, mini_evalset
) -> None:  # noqa: ANN001
    admin, ci = Client(live_server.url, tokens["admin"]), Client(live_server.url, tokens["ci"])
    admin.create_target(
        TargetCreate(name="intent_classifier", task="classification", policy=gate_policy(mini_evalset))
    )
    uri, sha = make_artifact()
    candidate = ci.register(
        CandidateCreate(target="intent_classifier", artifact_uri=uri, artifact_sha256=sha, tags=TAGS)
    )
    predictions = _submission(settings.artifact_root, mini_evalset)
    env = os.environ | {
        "PYTHONPATH": str(ROOT),
        "GATEKEEPER_URL": live_server.url,
        "GATEKEEPER_TOKEN": tokens["ci"],
        "GATEKEEPER_DATABASE_URL": settings.database_url,
        "GATEKEEPER_ARTIFACT_ROOT": str(settings.artifact_root),
    }
    argv = [sys.executable, "-m", "gatekeeper", "evaluate", str(candidate.id), "--predictions", predictions]
    cli = subprocess.Popen(
        [*argv, "--wait", "--poll", "0.2", "--timeout", "300"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    shown: list[str] = []
    queued = threading.Event()
    reader = threading.Thread(target=_stderr_lines, args=(cli, shown, queued), daemon=True)
    reader.start()
    try:
        assert queued.wait(120), shown
        evaluation_id = shown[0].split()[1]
        seen: list[tuple[str, str, dict[str, Any]]] = []

        def log(line: str) -> None:  # the worker's log sink: read the API right after each line
            state = ci.get_evaluation(evaluation_id, results=False)
            seen.append((line, state.status, state.progress))

        install()
        slow = settings.model_copy(update={"bootstrap_resamples": SLOW_RESAMPLES})
        assert Worker(db, slow, echo=log).run_once()
        out, _ = cli.communicate(timeout=120)
    finally:
        if cli.poll() is None:
            cli.kill()
    reader.join(5)
    assert cli.returncode == 0, shown
    assert out.startswith("## "), "the Markdown summary follows the progress"

    finished = [p for line, status, p in seen if "(finished:" in line and status == "running"]
    measured = [p for p in finished if p["stage"] == "measuring"]
    assert [p["mode"] for p in measured] == ["golden", "correlation", "slices", "adversarial", "replay"]
    assert measured[-1]["modes_done"] == ["golden", "correlation", "slices", "adversarial", "replay"]
    holdout = next(p for p in finished if p["stage"] == "candidate: predicting" and p["mode"] == "slices")
    assert holdout["done"] == holdout["total"] == len(evalsets.load(mini_evalset).examples("holdout"))
    running = [line for line in shown if line.startswith("[running] ") and "/" in line]
    assert running, f"no live progress line on stderr: {shown}"
    assert shown[-1] == "[done] done"
