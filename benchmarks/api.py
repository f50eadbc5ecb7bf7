"""API latency on Postgres: candidate registration p95 with 32 concurrent clients (target <= 50 ms) and
routing reads p95 (target <= 10 ms), through the real HTTP server (uvicorn) on a fresh database.

    python benchmarks/api.py [--registrations 320] [--reads 2000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import psycopg

from gatekeeper.api.app import create_app
from gatekeeper.api.server import BackgroundServer
from gatekeeper.config import PROJECT_ROOT, Settings
from gatekeeper.db import Database
from gatekeeper.migrate import upgrade
from gatekeeper.registry.artifacts import artifact_sha256
from gatekeeper.registry.auth import create_token

SERVER = os.environ.get("GATEKEEPER_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
TAGS = {
    "model_target": "intent_classifier",
    "code_revision": "bench",
    "data_snapshot_id": "s",
    "label_version": "1",
    "feature_schema_version": "v1",
    "seed": "0",
}


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values) * 1000, q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registrations", type=int, default=320)
    parser.add_argument("--reads", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=32)
    args = parser.parse_args()
    name = f"gk_api_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = SERVER.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}"
    upgrade(url)
    work = Path(tempfile.mkdtemp(prefix="gk-api-bench-"))
    settings = Settings(database_url=url, artifact_root=work)
    db = Database.from_url(url, pool_size=40, max_overflow=40)
    with db.transaction() as session:
        _, secret = create_token(session, name="bench", role="admin", actor="bench")
    artifacts = []
    for i in range(args.registrations):
        (work / f"m{i}").mkdir()
        (work / f"m{i}" / "model.safetensors").write_bytes(os.urandom(64))
        artifacts.append((f"m{i}", artifact_sha256(work / f"m{i}")))
    server = BackgroundServer(create_app(settings, db))
    base = server.start()
    headers = {"Authorization": f"Bearer {secret}"}
    policy = (PROJECT_ROOT / "policies" / "intent_classifier.yaml").read_text()
    httpx.post(
        f"{base}/v1/targets",
        headers=headers,
        json={"name": "intent_classifier", "task": "classification", "policy": policy},
    ).raise_for_status()
    local = threading.local()

    def client() -> httpx.Client:
        if not hasattr(local, "http"):
            local.http = httpx.Client(base_url=base, headers=headers, timeout=60)
        return local.http

    def register(artifact: tuple[str, str]) -> float:
        started = time.perf_counter()
        response = client().post(
            "/v1/candidates",
            json={
                "target": "intent_classifier",
                "artifact_uri": artifact[0],
                "artifact_sha256": artifact[1],
                "tags": TAGS,
            },
        )
        response.raise_for_status()
        return time.perf_counter() - started

    def read(_: int) -> float:
        started = time.perf_counter()
        client().get("/v1/targets/intent_classifier/routing").raise_for_status()
        return time.perf_counter() - started

    with ThreadPoolExecutor(max_workers=args.clients) as pool:
        registrations = list(pool.map(register, artifacts))
    with ThreadPoolExecutor(max_workers=4) as pool:
        reads = list(pool.map(read, range(args.reads)))
    reg95, read95 = percentile(registrations, 95), percentile(reads, 95)
    print(
        f"registration with {args.clients} concurrent clients: p50 {percentile(registrations, 50):.1f} ms, "
        f"p95 {reg95:.1f} ms over {len(registrations)} (target <= 50 ms: {'PASS' if reg95 <= 50 else 'FAIL'})"
    )
    print(
        f"routing read: p50 {percentile(reads, 50):.1f} ms, p95 {read95:.1f} ms over {len(reads)} "
        f"(target <= 10 ms: {'PASS' if read95 <= 10 else 'FAIL'})"
    )
    server.stop()
    db.dispose()
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
