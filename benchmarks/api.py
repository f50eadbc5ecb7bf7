"""API latency on Postgres through a real `gatekeeper serve` process on a fresh database.

Targets (DESIGN section 11): candidate registration p95 <= 50 ms with 32 concurrent clients, routing
read p95 <= 10 ms. Three measurements, because "32 concurrent clients" can mean two different loads:

- paced: 32 CI clients that each register a candidate, then wait (exponential think time, mean
  `--think` seconds) before the next: the load a fleet of CI jobs puts on the registry. Gated.
- saturated: the same 32 clients with no think time, all registering into one target at once. On a
  2-core box this measures throughput, not latency: by Little's law the mean latency is
  clients / throughput, so it is printed for information, not compared with the target.
- routing reads: one reader alone, then `--readers` serving-layer instances polling
  `GET /v1/targets/{t}/routing` (exponential intervals, mean `--poll` seconds). Gated.

The load generator uses the standard library's http.client (keep-alive) so that it takes as little
of the shared CPU as it can; the server, Postgres and the clients still share the same cores.

    python benchmarks/api.py [--workers 1] [--clients 32] [--think 1.0] [--registrations 640]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

from gatekeeper.config import PROJECT_ROOT
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    """One keep-alive HTTP/1.1 connection per thread."""

    def __init__(self, port: int, secret: str) -> None:
        self.port = port
        self.headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
        self.local = threading.local()

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
        payload = json.dumps(body) if body is not None else None
        for attempt in (1, 2):
            conn = getattr(self.local, "conn", None)
            if conn is None:
                conn = self.local.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            try:
                conn.request(method, path, body=payload, headers=self.headers)
                response = conn.getresponse()
                return response.status, response.read()
            except (ConnectionError, http.client.RemoteDisconnected):
                # the server closed an idle keep-alive connection: reconnect, as any client does
                conn.close()
                self.local.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def wait_until_up(client: Client, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gatekeeper serve exited with code {process.returncode}")
        try:
            if client.request("GET", "/healthz")[0] == 200:
                return
        except OSError:
            client.local.conn = None
        time.sleep(0.2)
    raise SystemExit("gatekeeper serve did not come up")


def summary(values: list[float]) -> tuple[float, float]:
    ms = np.asarray(values) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--think", type=float, default=1.0, help="mean think time of a paced client, s")
    parser.add_argument("--registrations", type=int, default=640, help="per phase")
    parser.add_argument("--readers", type=int, default=8, help="serving-layer instances polling routing")
    parser.add_argument("--poll", type=float, default=0.05, help="mean interval between a reader's polls, s")
    parser.add_argument("--reads", type=int, default=4000)
    return parser.parse_args()


@contextlib.contextmanager
def fresh_database() -> Iterator[str]:
    """A new Postgres database, migrated, dropped on the way out."""
    name = f"gk_api_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = SERVER.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}"
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(SERVER, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def admin_secret(url: str) -> str:
    db = Database.from_url(url)
    with db.transaction() as session:
        _, secret = create_token(session, name="bench", role="admin", actor="bench")
    db.dispose()
    return secret


def write_artifacts(work: Path, n: int) -> list[tuple[str, str]]:
    """``n`` distinct model folders under ``work``: (uri, sha256) each."""
    artifacts = []
    for i in range(n):
        (work / f"m{i}").mkdir()
        (work / f"m{i}" / "model.safetensors").write_bytes(os.urandom(64))
        artifacts.append((f"m{i}", artifact_sha256(work / f"m{i}")))
    return artifacts


@contextlib.contextmanager
def served(url: str, work: Path, workers: int, secret: str) -> Iterator[Client]:
    """A `gatekeeper serve` process on the database, and a client of it once it answers."""
    port = free_port()
    env = dict(os.environ, GATEKEEPER_DATABASE_URL=url, GATEKEEPER_ARTIFACT_ROOT=str(work))
    server = subprocess.Popen(
        [sys.executable, "-m", "gatekeeper", "serve"] + ["--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client = Client(port, secret)
        wait_until_up(client, server)
        yield client
    finally:
        server.terminate()
        server.wait(timeout=30)


def register(client: Client, artifact: tuple[str, str]) -> float:
    """Register one candidate; the seconds it took."""
    started = time.perf_counter()
    status, body = client.request(
        "POST",
        "/v1/candidates",
        {
            "target": "intent_classifier",
            "artifact_uri": artifact[0],
            "artifact_sha256": artifact[1],
            "tags": TAGS,
        },
    )
    assert status == 201, body
    return time.perf_counter() - started


def measure_registrations(
    client: Client, args: argparse.Namespace, artifacts: list[tuple[str, str]]
) -> dict[str, Any]:
    """The paced phase, then the saturated one, each registering its own half of ``artifacts``."""
    policy = (PROJECT_ROOT / "policies" / "intent_classifier.yaml").read_text()
    status, body = client.request(
        "POST", "/v1/targets", {"name": "intent_classifier", "task": "classification", "policy": policy}
    )
    assert status == 201, body

    def paced_client(batch: list[tuple[str, str]], seed: int) -> list[float]:
        rng = random.Random(seed)
        out = []
        for artifact in batch:
            time.sleep(rng.expovariate(1.0 / args.think))
            out.append(register(client, artifact))
        return out

    # warm the server's pool and every client connection before measuring
    with ThreadPoolExecutor(args.clients) as pool:
        list(pool.map(lambda _: client.request("GET", "/v1/whoami"), range(4 * args.clients)))

    paced_set, saturated_set = artifacts[: args.registrations], artifacts[args.registrations :]
    batches = [paced_set[i :: args.clients] for i in range(args.clients)]
    started = time.perf_counter()
    with ThreadPoolExecutor(args.clients) as pool:
        paced = [x for part in pool.map(paced_client, batches, range(args.clients)) for x in part]
    paced_rate = len(paced) / (time.perf_counter() - started)

    started = time.perf_counter()
    with ThreadPoolExecutor(args.clients) as pool:
        saturated = list(pool.map(lambda artifact: register(client, artifact), saturated_set))
    throughput = len(saturated) / (time.perf_counter() - started)
    return {"paced": paced, "paced_rate": paced_rate, "saturated": saturated, "throughput": throughput}


def measure_reads(client: Client, args: argparse.Namespace) -> dict[str, Any]:
    """Routing reads: one reader alone, then ``args.readers`` polling readers together."""

    def read(_: int) -> float:
        started = time.perf_counter()
        status, body = client.request("GET", "/v1/targets/intent_classifier/routing")
        assert status == 200, body
        return time.perf_counter() - started

    def polling_reader(seed: int) -> list[float]:
        rng = random.Random(seed)
        out = []
        for _ in range(args.reads // args.readers):
            time.sleep(rng.expovariate(1.0 / args.poll))
            out.append(read(0))
        return out

    alone = [read(i) for i in range(500)]
    started = time.perf_counter()
    with ThreadPoolExecutor(args.readers) as pool:
        reads = [x for part in pool.map(polling_reader, range(args.readers)) for x in part]
    read_rate = len(reads) / (time.perf_counter() - started)
    return {"alone": alone, "reads": reads, "read_rate": read_rate}


def report(args: argparse.Namespace, m: dict[str, Any]) -> None:
    paced, saturated, alone, reads = m["paced"], m["saturated"], m["alone"], m["reads"]
    p50, p95 = summary(paced)
    verdict = "PASS" if p95 <= 50 else "FAIL"
    print(
        f"registration, {args.clients} paced clients ({m['paced_rate']:.0f} req/s offered): "
        f"p50 {p50:.1f} ms, p95 {p95:.1f} ms over {len(paced)} (target <= 50 ms: {verdict})"
    )
    p50, p95 = summary(saturated)
    print(
        f"registration, {args.clients} clients back to back (saturation, information only): "
        f"{m['throughput']:.0f} req/s, p50 {p50:.1f} ms, p95 {p95:.1f} ms over {len(saturated)}"
    )
    p50, p95 = summary(alone)
    print(f"routing read, one reader alone: p50 {p50:.1f} ms, p95 {p95:.1f} ms over {len(alone)}")
    p50, p95 = summary(reads)
    verdict = "PASS" if p95 <= 10 else "FAIL"
    print(
        f"routing read, {args.readers} polling readers ({m['read_rate']:.0f} req/s): p50 {p50:.1f} ms, "
        f"p95 {p95:.1f} ms over {len(reads)} (target <= 10 ms: {verdict})"
    )


def main() -> None:
    args = parse_args()
    work = Path(tempfile.mkdtemp(prefix="gk-api-bench-"))
    try:
        with fresh_database() as url:
            artifacts = write_artifacts(work, 2 * args.registrations)
            with served(url, work, args.workers, admin_secret(url)) as client:
                measured = measure_registrations(client, args, artifacts)
                measured |= measure_reads(client, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(args, measured)


if __name__ == "__main__":
    main()
