"""One local Ray cluster per test session (2 CPUs, no dashboard), shut down at the end; under xdist
every test here runs on one worker (tests/conftest.py). And gate "worlds": a fresh SQLite database,
artifact root and API per executor, so that nothing one executor computed (the prediction cache above
all) can stand in for the other's work."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gatekeeper.api.app import create_app
from gatekeeper.config import Settings
from gatekeeper.db import Database
from gatekeeper.evaluation import runner
from gatekeeper.evaluation.executors.base import Executor
from gatekeeper.registry.artifacts import artifact_sha256
from gatekeeper.registry.auth import Role, create_token
from tests.artifacts.conftest import gate_body
from tests.conftest import ROOT, TAGS
from tests.fixtures.tiny_intent import build_tiny_intent
from tests.gate.conftest import build_mini_evalset


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[None]:
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=256 * 1024**2)
    yield
    ray.shutdown()


@pytest.fixture(scope="session")
def intent_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("ray-intent")
    return {
        name: build_tiny_intent(folder / name, seed=seed)
        for name, seed in (("champion", 1), ("candidate", 2))
    }


@pytest.fixture(scope="session")
def ray_evalset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_mini_evalset(tmp_path_factory.mktemp("evalset") / "intent_ray", per_label=8, holdout=120)


@dataclass
class World:
    """One gate installation: its database, settings and API, with a token per role."""

    db: Database
    settings: Settings
    api: TestClient
    tokens: dict[str, str]

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def install(self, folder: Path, name: str) -> tuple[str, str]:
        target = self.settings.artifact_root / name
        shutil.copytree(folder, target, copy_function=os.link)
        return name, artifact_sha256(target)

    def evaluate(self, folder: Path, name: str, executor: Executor | None = None) -> dict[str, Any]:
        """Register the model, evaluate it (the settings' executor unless one is given), return the
        evaluation as the API shows it."""
        uri, sha = self.install(folder, name)
        body = {"target": "intent_classifier", "artifact_uri": uri, "artifact_sha256": sha, "tags": TAGS}
        candidate = self.api.post("/v1/candidates", json=body, headers=self.auth("ci"))
        assert candidate.status_code == 201, candidate.text
        queued = self.api.post(
            f"/v1/candidates/{candidate.json()['id']}/evaluations", json={}, headers=self.auth("ci")
        )
        assert queued.status_code == 202, queued.text
        runner.run(self.db, self.settings, queued.json()["id"], echo=lambda _: None, executor=executor)
        return self.api.get(f"/v1/evaluations/{queued.json()['id']}", headers=self.auth("ci")).json()

    def promote(self, candidate_id: str) -> None:
        promoted = self.api.post(
            f"/v1/candidates/{candidate_id}/promote", json={"reason": "champion"}, headers=self.auth("admin")
        )
        assert promoted.status_code == 200, promoted.text


@pytest.fixture
def world(tmp_path: Path, sqlite_template: Path, ray_evalset: Path) -> Callable[..., Any]:
    """``world(executor)``: a fresh installation whose settings name that executor."""

    @contextmanager
    def _world(executor: str) -> Iterator[World]:
        home = tmp_path / executor
        (home / "artifacts").mkdir(parents=True)
        shutil.copy(sqlite_template, home / "g.db")
        db = Database.from_url(f"sqlite:///{home / 'g.db'}")
        settings = Settings(
            database_url=f"sqlite:///{home / 'g.db'}",
            artifact_root=home / "artifacts",
            report_dir=home / "reports",
            evalset_root=ROOT,
            executor=executor,
            bootstrap_resamples=200,  # the statistics are not under test here, only their inputs
        )
        tokens: dict[str, str] = {}
        with db.transaction() as session:
            for role in Role:
                _, tokens[role.value] = create_token(session, name=role.value, role=role.value, actor="test")
        with TestClient(create_app(settings, db), raise_server_exceptions=False) as api:
            created = api.post(
                "/v1/targets",
                json=gate_body(ray_evalset, 0.0),
                headers={"Authorization": f"Bearer {tokens['admin']}"},
            )
            assert created.status_code == 201, created.text
            yield World(db, settings, api, tokens)
        db.dispose()

    return _world
