"""Gate fixtures: a small evalset cut from the shipped one, and two real MiniLM intent models
trained once per test session (shared across xdist workers through a file lock)."""

from __future__ import annotations

import json
import os
import shutil
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

from evalsets.manifest import load_manifest, read_jsonl, write_jsonl, write_manifest
from gatekeeper.db import Database
from gatekeeper.registry.artifacts import artifact_sha256
from tests.conftest import ROOT, TAGS

SHIPPED = ROOT / "evalsets" / "intent_classifier"


def _per_label(rows: list[dict[str, Any]], per_label: int) -> list[dict[str, Any]]:
    kept: dict[str, int] = defaultdict(int)
    out = []
    for row in rows:
        if kept[row["label"]] < per_label:
            kept[row["label"]] += 1
            out.append(row)
    return out


def adversarial_of(shipped: Path, kept: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """The first ``n`` adversarial rows whose source example was kept."""
    sources = {r["id"] for r in kept}
    return [r for r in read_jsonl(shipped / "adversarial.jsonl") if r["source_id"] in sources][:n]


def write_cut(
    folder: Path, shipped: Path, sets: dict[str, list[dict[str, Any]]], copies: tuple[str, ...] = ()
) -> Path:
    """Write a small evalset cut from a shipped one, under the shipped manifest's roles and metadata."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest = load_manifest(shipped)
    for name, rows in sets.items():
        write_jsonl(folder / name, rows)
    for name in copies:
        shutil.copy(shipped / name, folder / name)
    write_manifest(
        folder,
        meta={k: v for k, v in manifest.items() if k != "files"} | {"version": "mini-1"},
        roles={name: manifest["files"][name]["role"] for name in [*sets, *copies]},
    )
    return folder


@pytest.fixture
def sqlite_db(tmp_path: Path, sqlite_template: Path) -> Iterator[Database]:
    """One engine is enough where the task's metrics, not the database, are under test."""
    shutil.copy(sqlite_template, tmp_path / "g.db")
    database = Database.from_url(f"sqlite:///{tmp_path / 'g.db'}")
    yield database
    database.dispose()


def build_mini_evalset(folder: Path, *, per_label: int = 30, holdout: int = 600) -> Path:
    """A few hundred real examples per role, with the shipped manifest's labels and route costs."""
    golden = _per_label(read_jsonl(SHIPPED / "golden.jsonl"), per_label)
    hold = read_jsonl(SHIPPED / "holdout.jsonl")[:holdout]
    sets = {
        "golden.jsonl": golden,
        "holdout.jsonl": hold,
        "adversarial.jsonl": adversarial_of(SHIPPED, golden + hold, 120),
        "replay.jsonl": read_jsonl(SHIPPED / "replay.jsonl")[:300],
    }
    return write_cut(folder, SHIPPED, sets)


@pytest.fixture(scope="session")
def mini_evalset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_mini_evalset(tmp_path_factory.mktemp("evalset") / "intent_mini")


def _train(out: Path, *, examples: int, epochs: int, seed: int, lr: float) -> None:
    from trainers.intent.config import IntentTrainConfig
    from trainers.intent.train import train_intent

    config = IntentTrainConfig(
        train_path=SHIPPED / "train.jsonl",
        val_path=SHIPPED / "validation.jsonl",
        output_dir=out,
        max_train_examples=examples,
        max_val_examples=200,
        epochs=epochs,
        seed=seed,
        base_lr=lr,
        progress=False,
        tags=dict(TAGS),
        early_stopping_patience=None,
    )
    train_intent(config, log=lambda _: None)


@pytest.fixture(scope="session")
def trained_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Champion: a short run; candidate: a longer one. Trained once, reused by every worker."""
    shared = tmp_path_factory.getbasetemp().parent / "gk-trained-intent"
    shared.mkdir(exist_ok=True)
    # A higher learning rate than the production recipe, so a minute of CPU gives usable models.
    specs = {
        "champion": {"examples": 400, "epochs": 2, "seed": 1, "lr": 1e-4},
        "candidate": {"examples": 1000, "epochs": 2, "seed": 2, "lr": 1e-4},
    }
    with FileLock(str(shared / ".lock")):
        for name, spec in specs.items():
            out = shared / name
            stamp = shared / f"{name}.json"
            if not stamp.exists() or json.loads(stamp.read_text()) != spec:
                shutil.rmtree(out, ignore_errors=True)
                _train(out, **spec)
                stamp.write_text(json.dumps(spec))
    return {name: shared / name for name in specs}


@pytest.fixture
def install_model(settings):  # noqa: ANN001, ANN201
    """Hard-link a trained model into this test's artifact root (no copy, no symlink)."""

    def _install(source: Path, name: str) -> tuple[str, str]:
        target = settings.artifact_root / name
        shutil.copytree(source, target, copy_function=os.link)
        return name, artifact_sha256(target)

    return _install


def gate_policy(evalset: Path, *, floor: float = 0.2) -> str:
    """The shipped policy pointed at a test evalset, with a floor a briefly trained model can meet and a
    latency budget a loaded 2-core CI box always meets (the latency rule itself is unit-tested)."""
    text = (ROOT / "policies" / "intent_classifier.yaml").read_text()
    text = text.replace("evalset_dir: evalsets/intent_classifier", f"evalset_dir: {evalset}")
    return text.replace("floors: {macro_f1: 0.80}", f"floors: {{macro_f1: {floor}}}").replace(
        "latency_p95_ms: 15", "latency_p95_ms: 5000"
    )
