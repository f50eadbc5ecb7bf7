"""Gatekeeper invokes and records trainers: queued over the API, run by the worker (SQLite and
Postgres) or by `gatekeeper train`, refused when anonymous, failed cleanly on label-QA rejection."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from evalsets.manifest import write_jsonl, write_manifest
from gatekeeper.jobs.handlers import install
from gatekeeper.jobs.worker import Worker
from gatekeeper.registry.artifacts import artifact_sha256
from tests.conftest import TAGS, snapshot
from tests.trainers.conftest import make_rows, qa_rows


def agree(n: int, noise_every: int) -> list[tuple[str, str]]:
    labels = ["faq", "escalation", "promotion", "order_tracking", "chitchat"]
    return [(labels[i % 5], labels[(i + (1 if i % noise_every == 0 else 0)) % 5]) for i in range(n)]


@pytest.fixture
def tiny_evalset(tmp_path: Path) -> Path:
    """A trainer-ready evalset folder: train, validation and label-QA pools that pass (kappa > 0.75)."""
    folder = tmp_path / "evalset"
    folder.mkdir()
    write_jsonl(folder / "train.jsonl", make_rows(8, seed=1, prefix="train"))
    write_jsonl(folder / "validation.jsonl", make_rows(3, seed=2, prefix="val"))
    write_jsonl(folder / "label_qa.jsonl", qa_rows("en", agree(60, 12)) + qa_rows("ja", agree(60, 12)))
    write_manifest(
        folder,
        meta={"name": "intent_classifier", "task": "classification", "version": "t1", "seed": 1},
        roles={"train.jsonl": "train", "validation.jsonl": "validation", "label_qa.jsonl": "label_qa"},
    )
    return folder


def config(evalset: Path, base: Path) -> dict:
    return {
        "evalset_dir": str(evalset),
        "base_model": str(base),
        "epochs": 1,
        "batch_size": 16,
        "progress": False,
        "log_every": 1,
    }


def test_anonymous_runs_are_refused_before_anything_is_queued(api, auth, db, target, tiny_evalset) -> None:
    before = snapshot(db)
    tags = {k: v for k, v in TAGS.items() if k != "label_version"}
    response = api.post(
        "/v1/training-runs",
        headers=auth("ci"),
        json={"trainer": "intent", "tags": tags, "config": {"evalset_dir": str(tiny_evalset)}},
    )
    assert response.status_code == 422 and response.json()["missing_tags"] == ["label_version"]
    assert snapshot(db) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"trainer": "svm", "config": {}}, "trainer"),
        ({"trainer": "intent", "config": {"epochs": 0}}, "config.epochs"),
        ({"trainer": "intent", "config": {"learning_rate_typo": 1}}, "config.learning_rate_typo"),
    ],
)
def test_bad_trainer_requests_name_the_field(api, auth, db, target, tiny_evalset, body, field) -> None:
    before = snapshot(db)
    body["config"] = {"evalset_dir": str(tiny_evalset), **body["config"]}
    response = api.post("/v1/training-runs", headers=auth("ci"), json={**body, "tags": TAGS})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert snapshot(db) == before


def test_worker_runs_a_queued_run_and_records_it(
    api, auth, db, settings, target, tiny_evalset, tiny_distilbert_dir
) -> None:
    queued = api.post(
        "/v1/training-runs",
        headers=auth("ci"),
        json={
            "trainer": "intent",
            "tags": TAGS,
            "register": True,
            "config": config(tiny_evalset, tiny_distilbert_dir),
        },
    )
    assert queued.status_code == 202, queued.text
    run_id = queued.json()["id"]
    assert queued.json()["status"] == "queued"
    install()
    lines: list[str] = []
    assert Worker(db, settings, echo=lines.append, kinds=("training",)).run_once()
    run = api.get(f"/v1/training-runs/{run_id}", headers=auth("reviewer")).json()
    assert run["status"] == "succeeded", run["error"]
    assert run["tags"] == TAGS and run["started_at"] and run["finished_at"]
    assert run["output_sha256"] == artifact_sha256(settings.artifact_root / run["output_uri"])
    assert {"macro_f1", "accuracy"} <= set(run["metrics"]["final"])
    log = Path(run["log_path"]).read_text()
    assert "[LABEL_QA]" in log and "[TRAIN]" in log and "[VAL]" in log and "[OUTPUT]" in log
    assert any(line.startswith("[TRAIN]") for line in lines)
    candidate = api.get(
        f"/v1/candidates/{run['metrics']['registered_candidate_id']}", headers=auth("ci")
    ).json()
    assert candidate["training_run_id"] == run_id and candidate["tags"] == TAGS
    assert candidate["artifact_sha256"] == run["output_sha256"] and candidate["submitter"] == "ci"
    actions = [
        e["action"] for e in api.get("/v1/audit", params={"entity": run_id}, headers=auth("ci")).json()
    ]
    assert actions == ["training_run.finish", "training_run.start", "training_run.record"]


def test_label_qa_rejection_fails_the_run_and_leaves_no_model(
    api, auth, db, settings, target, tiny_evalset, tiny_distilbert_dir
) -> None:
    write_jsonl(tiny_evalset / "label_qa.jsonl", qa_rows("en", agree(60, 12)) + qa_rows("ja", agree(60, 2)))
    write_manifest(
        tiny_evalset,
        meta={"name": "intent_classifier", "task": "classification", "version": "t1", "seed": 1},
        roles={"train.jsonl": "train", "validation.jsonl": "validation", "label_qa.jsonl": "label_qa"},
    )
    queued = api.post(
        "/v1/training-runs",
        headers=auth("ci"),
        json={"trainer": "intent", "tags": TAGS, "config": config(tiny_evalset, tiny_distilbert_dir)},
    ).json()
    install()
    Worker(db, settings, echo=lambda _: None, kinds=("training",)).run_once()
    run = api.get(f"/v1/training-runs/{queued['id']}", headers=auth("ci")).json()
    assert run["status"] == "failed" and "label QA rejected: JA pool" in run["error"]
    assert not (settings.artifact_root / "intent_classifier").exists() or not any(
        (settings.artifact_root / "intent_classifier").iterdir()
    )


def test_gatekeeper_train_cli_records_and_registers(
    env_for_cli, db, target, tiny_evalset, tiny_distilbert_dir
) -> None:
    from gatekeeper.cli import app

    result = CliRunner().invoke(
        app,
        [
            "train",
            "intent",
            "--set",
            f"evalset_dir={tiny_evalset}",
            "--set",
            f"base_model={tiny_distilbert_dir}",
            "--set",
            "progress=false",
            "--epochs",
            "1",
            "--tag",
            "code_revision=cli-test",
            "--register",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "succeeded" in result.stdout and "registered candidate" in result.stdout
    from sqlalchemy import select

    from gatekeeper.registry.models import Candidate, TrainingRun

    with db.session() as session:
        run = session.scalar(select(TrainingRun))
        candidate = session.scalar(select(Candidate))
    assert run.status == "succeeded" and run.tags["code_revision"] == "cli-test"
    assert run.tags["data_snapshot_id"].startswith("intent_classifier@t1:")
    assert candidate.training_run_id == run.id and candidate.version == 1


@pytest.fixture
def env_for_cli(settings, monkeypatch):  # noqa: ANN001, ANN201
    from gatekeeper.config import get_settings

    monkeypatch.setenv("GATEKEEPER_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("GATEKEEPER_ARTIFACT_ROOT", str(settings.artifact_root))
    monkeypatch.setenv("GATEKEEPER_LOG_DIR", str(settings.artifact_root.parent / "logs"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
