"""A deliberately under-powered candidate through the real API, worker and CLI (issue 15), built as the
demo builds it (``gatekeeper.demo.nudge``): submitted predictions equal to the champion's except on ten
golden examples of one non-critical intent (six fixed, four broken). It is better on every figure, but
ten examples cannot prove it is not worse: the gate says inconclusive with its need N, holds the
candidate, and ``evaluate --wait`` exits 3."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from evalsets.manifest import read_jsonl
from gatekeeper.cli import app
from gatekeeper.demo import NUDGE_BROKEN, NUDGE_FIXED, _line, nudge
from gatekeeper.evaluation.predictions import Predictions
from gatekeeper.jobs.handlers import install
from gatekeeper.jobs.worker import Worker
from gatekeeper.registry.artifacts import file_sha256
from tests.conftest import TAGS
from tests.gate.conftest import gate_policy

# Neither is a critical class, so rare-class recall is untouched.
RIGHT, WRONG = "faq", "promotion"


def _champion(folder: Path) -> Predictions:
    """The champion answers every example as labelled (replay: as served), but six ``faq`` golden
    examples as ``promotion``."""
    faq = [r["id"] for r in read_jsonl(folder / "golden.jsonl") if r["label"] == RIGHT]
    ids, output = [], []
    for name in ("golden.jsonl", "holdout.jsonl", "adversarial.jsonl", "replay.jsonl"):
        for row in read_jsonl(folder / name):
            ids.append(row["id"])
            output.append(WRONG if row["id"] in faq[:6] else row.get("served_label") or row["label"])
    return Predictions(ids, output, [1.0] * len(ids), [[(o, 1.0)] for o in output], [])


def _lines(answers: Predictions, changed: dict[str, str]) -> list[dict[str, Any]]:
    return [
        _line(i, answers.output[k], answers.topk[k], changed.get(i)) | {"latency_ms": 5.0}
        for k, i in enumerate(answers.ids)
    ]


def _write(root: Path, name: str, rows: list[dict[str, Any]]) -> dict[str, str]:
    (root / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    return {"predictions_uri": name, "predictions_sha256": file_sha256(root / name)}


def _register(api, auth, make_artifact) -> str:  # noqa: ANN001
    uri, sha = make_artifact()
    body = {"target": "intent_classifier", "artifact_uri": uri, "artifact_sha256": sha, "tags": TAGS}
    return api.post("/v1/candidates", json=body, headers=auth("ci")).json()["id"]


@pytest.fixture
def champion(api, auth, db, settings, make_artifact, mini_evalset) -> str:  # noqa: ANN001
    body = {"name": "intent_classifier", "task": "classification", "policy": gate_policy(mini_evalset)}
    assert api.post("/v1/targets", json=body, headers=auth("admin")).status_code == 201
    install()
    champion_id = _register(api, auth, make_artifact)
    spec = _write(settings.artifact_root, "champion.jsonl", _lines(_champion(mini_evalset), {}))
    assert (
        api.post(f"/v1/candidates/{champion_id}/evaluations", json=spec, headers=auth("ci")).status_code
        == 202
    )
    assert Worker(db, settings, echo=lambda _: None).run_once()
    promoted = api.post(
        f"/v1/candidates/{champion_id}/promote", json={"reason": "first"}, headers=auth("admin")
    )
    assert promoted.json()["status"] == "champion", promoted.text
    return champion_id


def test_an_under_powered_candidate_is_inconclusive_held_and_exits_3(
    api, auth, db, settings, live_server, tokens, make_artifact, mini_evalset, champion, monkeypatch
) -> None:
    candidate_id = _register(api, auth, make_artifact)
    # The demo's own construction: six of the champion's mistakes fixed, four right answers broken.
    answers = _champion(mini_evalset)
    changed = nudge(answers, read_jsonl(mini_evalset / "golden.jsonl"), {"escalation", "return_request"})
    assert len(changed) == NUDGE_FIXED + NUDGE_BROKEN and set(changed.values()) == {RIGHT, WRONG}
    _write(settings.artifact_root, "candidate.jsonl", _lines(answers, changed))
    monkeypatch.setenv("GATEKEEPER_ARTIFACT_ROOT", str(settings.artifact_root))
    from gatekeeper.config import get_settings

    get_settings.cache_clear()
    stop = threading.Event()
    worker = threading.Thread(
        target=Worker(db, settings, echo=lambda _: None).run_forever,
        kwargs={"poll_seconds": 0.05, "stop": stop},
    )
    worker.start()
    try:
        argv = ["evaluate", candidate_id, "--predictions", "candidate.jsonl", "--wait", "--poll", "0.05"]
        env = {"GATEKEEPER_URL": live_server.url, "GATEKEEPER_TOKEN": tokens["ci"]}
        result = CliRunner().invoke(app, argv, env=env)
    finally:
        stop.set()
        worker.join()
        get_settings.cache_clear()
    assert result.exit_code == 3, result.output
    assert "❔ Gatekeeper INCONCLUSIVE" in result.output
    assert "golden.vs_champion accuracy: need ≈" in result.output

    evaluation = api.get(f"/v1/candidates/{candidate_id}/evaluations", headers=auth("ci")).json()[0]
    assert evaluation["verdict"] == "inconclusive" and evaluation["decision"]["promotable"] is False
    needs = {(n["check"], n["metric"]): n for n in evaluation["need"]}
    accuracy = evaluation["decision"]["checks"]
    accuracy = next(c for c in accuracy if c["check"] == "golden.vs_champion" and c["metric"] == "accuracy")
    assert (
        accuracy["outcome"] == "inconclusive" and accuracy["value"] > accuracy["baseline"]
    )  # better, unproven
    assert needs["golden.vs_champion", "accuracy"]["need_n"] > 300
    assert not evaluation["decision"]["hard_failures"]

    # Held: not promotable, not shadowed; a re-gate (on more data) is allowed.
    assert (
        api.get(f"/v1/candidates/{candidate_id}", headers=auth("ci")).json()["status"] == "gate_inconclusive"
    )
    shadow = api.post(f"/v1/candidates/{candidate_id}/shadow", headers=auth("ci"))
    assert shadow.status_code == 409 and shadow.json()["current_status"] == "gate_inconclusive"
    again = api.post(f"/v1/candidates/{candidate_id}/evaluations", json={}, headers=auth("ci"))
    assert again.status_code == 202, again.text
