"""Gate fixtures: a small evalset cut from the shipped one, and two real MiniLM intent models
trained once per test session (shared across xdist workers through a file lock)."""

from __future__ import annotations

import json
import os
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

from evalsets.manifest import load_manifest, read_jsonl, write_jsonl, write_manifest
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


def build_mini_evalset(folder: Path, *, per_label: int = 30, holdout: int = 600) -> Path:
    """A few hundred real examples per role, with the shipped manifest's labels and route costs."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest = load_manifest(SHIPPED)
    golden = _per_label(read_jsonl(SHIPPED / "golden.jsonl"), per_label)
    hold = read_jsonl(SHIPPED / "holdout.jsonl")[:holdout]
    sources = {r["id"] for r in golden + hold}
    adversarial = [r for r in read_jsonl(SHIPPED / "adversarial.jsonl") if r["source_id"] in sources][:120]
    replay = read_jsonl(SHIPPED / "replay.jsonl")[:300]
    for name, rows in [
        ("golden.jsonl", golden),
        ("holdout.jsonl", hold),
        ("adversarial.jsonl", adversarial),
        ("replay.jsonl", replay),
    ]:
        write_jsonl(folder / name, rows)
    meta = {k: v for k, v in manifest.items() if k != "files"} | {"version": "mini-1"}
    write_manifest(
        folder,
        meta=meta,
        roles={
            "golden.jsonl": "golden",
            "holdout.jsonl": "holdout",
            "adversarial.jsonl": "adversarial",
            "replay.jsonl": "replay",
        },
    )
    return folder


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
