"""One seeded deployment for every dashboard test: a real app under uvicorn on SQLite, seeded through the
API with the two trained MiniLM models (shared with tests/gate), a finished evaluation against a champion,
one that errored and one still queued, training runs with per-epoch metrics, and a token per role; plus
(tests/dashboards/operations.py) a reranker target evaluated from submitted scores, a week of drift with
its events, and two canaries the real daemon aborted (a regression and a holdout anomaly)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

from evalsets.manifest import load_manifest, read_jsonl, write_jsonl, write_manifest
from gatekeeper.api.app import create_app
from gatekeeper.client import Client
from gatekeeper.config import Settings
from gatekeeper.db import Database
from gatekeeper.jobs.handlers import install
from gatekeeper.jobs.worker import Worker
from gatekeeper.registry.artifacts import artifact_sha256
from gatekeeper.registry.auth import Role, create_token
from tests.conftest import ROOT, TAGS, LiveServer
from tests.dashboards import operations
from tests.gate.conftest import build_mini_evalset, gate_policy, trained_models  # noqa: F401 - fixture

TARGET = "intent_classifier"
ONLINE_METRIC = "routing_accuracy_28d"


@dataclass
class Deployment:
    url: str
    tokens: dict[str, str]
    root: Path
    ids: dict[str, str] = field(default_factory=dict)
    evaluation: dict[str, Any] = field(default_factory=dict)
    drift: dict[str, Any] = field(default_factory=dict)
    seed_dir: Path | None = None
    db: Database | None = None

    def client(self, role: str = "reviewer") -> Client:
        return Client(self.url, self.tokens[role])


def _install(source: Path, root: Path, name: str) -> tuple[str, str]:
    shutil.copytree(source, root / name, copy_function=os.link)
    return name, artifact_sha256(root / name)


def _toy_artifact(root: Path, name: str) -> tuple[str, str]:
    """A folder that registers fine but is no model: its evaluation errors in the worker."""
    folder = root / name
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(name.encode() * 64)
    (folder / "config.json").write_text('{"model_type": "bert"}')
    return name, artifact_sha256(folder)


def _record_run(ci: Client, model: Path, name: str, sha: str) -> str:
    """Record the training run that produced a model folder, with its real per-epoch metrics."""
    metrics = json.loads((model / "metrics.json").read_text())
    config = metrics.get("config") or {}
    run = ci.post(
        "/v1/training-runs",
        {
            "target": TARGET,
            "trainer": "intent",
            "tags": TAGS,
            "params": {
                k: config[k] for k in ("base_lr", "epochs", "seed", "max_train_examples") if k in config
            },
            "metrics": {k: metrics[k] for k in ("final", "epochs", "best_epoch") if k in metrics},
            "output_uri": name,
            "output_sha256": sha,
            "log_path": f"logs/{name}.log",
        },
    )
    return run["id"]


def _register(ci: Client, uri: str, sha: str, run_id: str | None = None) -> str:
    body = {"target": TARGET, "artifact_uri": uri, "artifact_sha256": sha, "tags": TAGS}
    if run_id:
        body["training_run_id"] = run_id
    return ci.post("/v1/candidates", body)["id"]


def _evaluate(ci: Client, worker: Worker | None, candidate_id: str) -> str:
    queued = ci.post(f"/v1/candidates/{candidate_id}/evaluations")
    if worker is not None:
        assert worker.run_once()
    return queued["id"]


def _seed(dep: Deployment, worker: Worker, models: dict[str, Path], evalset: Path) -> None:
    admin, ci = dep.client("admin"), dep.client("ci")
    # the console tests read a seed rule's trigger (the sequential one's is read in tests/canary)
    policy = gate_policy(evalset).replace("abort_rules: {rules: both,", "abort_rules: {rules: seed,")
    admin.post("/v1/targets", {"name": TARGET, "task": "classification", "policy": policy})
    for role in ("champion", "candidate"):
        uri, sha = _install(models[role], dep.root, role)
        dep.ids[f"{role}_run"] = _record_run(ci, models[role], uri, sha)
        dep.ids[role] = _register(ci, uri, sha, dep.ids[f"{role}_run"])
        dep.ids[f"{role}_eval"] = _evaluate(ci, worker, dep.ids[role])
        if role == "champion":
            admin.post(f"/v1/candidates/{dep.ids[role]}/promote", {"reason": "first intent router"})
            dep.client("serving").post(
                f"/v1/candidates/{dep.ids[role]}/online-metrics", {"metric": ONLINE_METRIC, "value": 0.83}
            )
    dep.ids["broken"] = _register(ci, *_toy_artifact(dep.root, "broken"))
    dep.ids["broken_eval"] = _evaluate(ci, worker, dep.ids["broken"])
    dep.ids["waiting"] = _register(ci, *_toy_artifact(dep.root, "waiting"))
    dep.ids["waiting_eval"] = _evaluate(ci, None, dep.ids["waiting"])  # stays queued: no worker runs it
    dep.evaluation = dep.client().get(f"/v1/evaluations/{dep.ids['candidate_eval']}")


def build_small_evalset(folder: Path) -> Path:
    """The gate tests' mini set cut to about 900 examples: the page needs every role, not statistical
    power, and every example is predicted twice on a 2-core box."""
    build_mini_evalset(folder, per_label=15, holdout=360)
    write_jsonl(folder / "replay.jsonl", read_jsonl(folder / "replay.jsonl")[:150])
    manifest = load_manifest(folder)
    roles = {name: entry["role"] for name, entry in manifest["files"].items()}
    write_manifest(folder, meta={k: v for k, v in manifest.items() if k != "files"}, roles=roles)
    return folder


def _settings(folder: Path, db_file: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{db_file}",
        artifact_root=folder / "artifacts",
        report_dir=db_file.parent / "reports",
        evalset_root=ROOT,
    )


def _build_seed(folder: Path, template: Path, models: dict[str, Path]) -> dict[str, Any]:
    """Seed ``folder/seed.db`` through a live API and return what the tests need to reach it."""
    for leftover in ("evalset", "artifacts", "reranker-evalset"):  # from a worker that crashed while seeding
        shutil.rmtree(folder / leftover, ignore_errors=True)
    evalset = build_small_evalset(folder / "evalset")
    shutil.copy(template, folder / "seed.db")
    settings = _settings(folder, folder / "seed.db")
    settings.artifact_root.mkdir()
    db = Database.from_url(settings.database_url)
    try:
        tokens: dict[str, str] = {}
        with db.transaction() as session:
            for role in Role:
                _, tokens[role.value] = create_token(session, name=role.value, role=role.value, actor="test")
        install()
        with LiveServer(create_app(settings, db)) as server:
            dep = Deployment(server.url, tokens, settings.artifact_root)
            worker = Worker(db, settings, echo=lambda _: None)
            # First: the worker runs the oldest queued job, and _seed leaves one queued on purpose.
            dep.ids |= operations.seed_reranker(
                server.url, tokens, worker, settings.artifact_root, folder / "reranker-evalset"
            )
            _seed(dep, worker, models, evalset)
        ops = operations.seed_operations(db, settings, tokens, dep.ids["champion"])
        dep.ids |= ops["ids"]
    finally:
        db.dispose()
    return {"tokens": tokens, "ids": dep.ids, "evaluation": dep.evaluation, "drift": ops["drift"]}


def _session_dir(factory: pytest.TempPathFactory) -> Path:
    """A folder this test session's xdist workers share (the base temp itself without xdist)."""
    base = factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def deployment(
    tmp_path_factory: pytest.TempPathFactory,
    sqlite_template: Path,
    trained_models: dict[str, Path],  # noqa: F811
) -> Iterator[Deployment]:
    """Seeded once per test session (the first xdist worker seeds, the others wait), then served by each
    worker from its own copy of the database, so tests on any worker see the same deployment."""
    shared = _session_dir(tmp_path_factory) / "gk-dashboard-seed"
    shared.mkdir(exist_ok=True)
    stamp = shared / "seed.json"
    with FileLock(str(shared / ".lock")):
        if not stamp.exists():
            stamp.write_text(json.dumps(_build_seed(shared, sqlite_template, trained_models)))
    seed = json.loads(stamp.read_text())
    own = tmp_path_factory.mktemp("dashboard-db") / "gatekeeper.db"
    shutil.copy(shared / "seed.db", own)
    settings = _settings(shared, own)
    db = Database.from_url(settings.database_url)
    try:
        with LiveServer(create_app(settings, db)) as server:
            yield Deployment(
                server.url,
                seed["tokens"],
                settings.artifact_root,
                seed["ids"],
                seed["evaluation"],
                seed["drift"],
                shared,
            )
    finally:
        db.dispose()


@pytest.fixture
def fresh_deployment(deployment: Deployment, tmp_path: Path) -> Iterator[Deployment]:
    """A private copy of the seeded deployment, for a test that changes it (re-enable, abort, rollback,
    acknowledge); ``db`` reaches its database for what no API does (a canary that completes its stages)."""
    assert deployment.seed_dir is not None
    own = tmp_path / "gatekeeper.db"
    shutil.copy(deployment.seed_dir / "seed.db", own)
    settings = _settings(deployment.seed_dir, own)
    db = Database.from_url(settings.database_url)
    try:
        with LiveServer(create_app(settings, db)) as server:
            yield replace(deployment, url=server.url, db=db)
    finally:
        db.dispose()
