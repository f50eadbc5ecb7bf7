"""``make demo``: the Gatekeeper story end to end on a fresh embedded SQLite database.

Everything goes through the real HTTP API (a uvicorn server started in-process on a free port), so
what the demo prints is what CI and reviewers would see.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import uvicorn
from safetensors.numpy import save_file

from gatekeeper.client import ApiError, Client
from gatekeeper.config import Settings
from gatekeeper.db import Database
from gatekeeper.migrate import upgrade
from gatekeeper.registry.artifacts import artifact_sha256
from gatekeeper.registry.auth import Role, create_token

ROOT = Path(__file__).resolve().parent.parent
DEMO_DIR = ROOT / "var" / "demo"
TAGS = {
    "model_target": "intent_classifier",
    "code_revision": "demo0001",
    "data_snapshot_id": "snap-demo-1",
    "label_version": "1",
    "feature_schema_version": "v1",
    "seed": "42",
}


@dataclass
class Story:
    """Numbered steps with timings, and a summary at the end."""

    steps: list[tuple[str, str, float]] = field(default_factory=list)

    def step(self, title: str, action: Callable[[], str]) -> str:
        number = len(self.steps) + 1
        print(f"\n[{number}] {title}", flush=True)
        started = time.perf_counter()
        outcome = action()
        elapsed = time.perf_counter() - started
        print(f"    -> {outcome} ({elapsed:.1f}s)", flush=True)
        self.steps.append((title, outcome, elapsed))
        return outcome

    def summary(self) -> None:
        print("\n== Summary ==")
        for number, (title, outcome, elapsed) in enumerate(self.steps, 1):
            print(f"{number:>2}. {title:<52} {outcome}  [{elapsed:.1f}s]")
        print(f"total {sum(s[2] for s in self.steps):.1f}s")


class Server:
    """The API in a background thread on a free port."""

    def __init__(self, settings: Settings, db: Database) -> None:
        from gatekeeper.api.app import create_app

        config = uvicorn.Config(create_app(settings, db), host="127.0.0.1", port=0, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> str:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.02)
        return f"http://127.0.0.1:{self.server.servers[0].sockets[0].getsockname()[1]}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@dataclass
class Demo:
    story: Story = field(default_factory=Story)
    secrets: dict[str, str] = field(default_factory=dict)
    ids: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        shutil.rmtree(DEMO_DIR, ignore_errors=True)  # a fresh demo database every run
        (DEMO_DIR / "artifacts").mkdir(parents=True)
        self.settings = Settings(
            database_url=f"sqlite:///{DEMO_DIR / 'gatekeeper.db'}",
            artifact_root=DEMO_DIR / "artifacts",
            report_dir=DEMO_DIR / "reports",
            evalset_root=ROOT,
        )
        self.db = Database.from_url(self.settings.database_url)

    def client(self, role: str) -> Client:
        return Client(self.url, self.secrets[role])

    # --- steps ---------------------------------------------------------------------------------

    def migrate(self) -> str:
        upgrade(self.settings.database_url)
        return f"schema created at {DEMO_DIR / 'gatekeeper.db'}"

    def make_tokens(self) -> str:
        with self.db.transaction() as session:
            for role in Role:
                _, self.secrets[role.value] = create_token(
                    session, name=f"demo-{role.value}", role=role.value, actor="demo"
                )
        return "tokens for ci, reviewer, oncall, admin (stored as sha256 only)"

    def start_api(self) -> str:
        self.server = Server(self.settings, self.db)
        self.url = self.server.start()
        return f"API at {self.url} (OpenAPI at {self.url}/docs)"

    def create_target(self) -> str:
        policy = (ROOT / "policies" / "intent_classifier.yaml").read_text(encoding="utf-8")
        data = self.client("admin").post(
            "/v1/targets", {"name": "intent_classifier", "task": "classification", "policy": policy}
        )
        return f"target {data['name']} with policy v{data['policy_version']}"

    def toy_artifact(self, name: str, seed: int) -> tuple[str, str]:
        folder = self.settings.artifact_root / name
        folder.mkdir(parents=True, exist_ok=True)
        weights = np.random.default_rng(seed).standard_normal((16, 8)).astype(np.float32)
        save_file({"classifier.weight": weights}, str(folder / "model.safetensors"))
        (folder / "config.json").write_text('{"model_type": "toy"}', encoding="utf-8")
        return name, artifact_sha256(folder)

    def register_toy(self) -> str:
        uri, sha = self.toy_artifact("toy-v1", seed=1)
        data = self.client("ci").post(
            "/v1/candidates",
            {"target": "intent_classifier", "artifact_uri": uri, "artifact_sha256": sha, "tags": TAGS},
        )
        again = self.client("ci").post(
            "/v1/candidates",
            {"target": "intent_classifier", "artifact_uri": uri, "artifact_sha256": sha, "tags": TAGS},
        )
        assert again["id"] == data["id"], "re-registration must be idempotent"
        self.ids["toy"] = data["id"]
        return f"v{data['version']} {data['id']} ({data['status']}); re-posting it is idempotent"

    def refusals(self) -> str:
        uri, sha = self.toy_artifact("toy-v2", seed=2)
        seen = []
        attempts = {
            "missing tags": {
                "target": "intent_classifier",
                "artifact_uri": uri,
                "artifact_sha256": sha,
                "tags": {"model_target": "intent_classifier"},
            },
            "wrong sha": {
                "target": "intent_classifier",
                "artifact_uri": uri,
                "artifact_sha256": "0" * 64,
                "tags": TAGS,
            },
            "path traversal": {
                "target": "intent_classifier",
                "artifact_uri": "../../etc",
                "artifact_sha256": sha,
                "tags": TAGS,
            },
        }
        for label, body in attempts.items():
            try:
                self.client("ci").post("/v1/candidates", body)
                raise SystemExit(f"demo: {label} was accepted")
            except ApiError as exc:
                seen.append(f"{label}: HTTP {exc.status}")
                print(f"    refused ({label}): {exc.detail[:110]}")
        return "; ".join(seen)

    def show_registry(self) -> str:
        reviewer = self.client("reviewer")
        items = reviewer.get("/v1/candidates", target="intent_classifier")["items"]
        audit = reviewer.get("/v1/audit", limit=50)
        for event in reversed(audit):
            print(
                f"    audit #{event['id']:<3} {event['actor']:<14} {event['action']:<22} {event['entity_id']}"
            )
        return f"{len(items)} candidate(s), {len(audit)} audit event(s)"

    def run(self) -> None:
        s = self.story
        s.step("Create the embedded SQLite database (Alembic)", self.migrate)
        s.step("Issue API tokens for every role", self.make_tokens)
        s.step("Start the HTTP API", self.start_api)
        try:
            s.step("Create the intent_classifier target with its policy", self.create_target)
            s.step("CI registers a candidate with full lineage", self.register_toy)
            s.step("Bad submissions are refused and change nothing", self.refusals)
            s.step("Read the registry and the audit log", self.show_registry)
        finally:
            self.server.stop()
        s.summary()
        print(f"\nDemo database: {DEMO_DIR / 'gatekeeper.db'}")
        print(f"Browse it: GATEKEEPER_DATABASE_URL=sqlite:///{DEMO_DIR / 'gatekeeper.db'} gatekeeper serve")


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        Demo().run()
    except ApiError as exc:
        print(f"demo failed: {exc.detail} (HTTP {exc.status})", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
