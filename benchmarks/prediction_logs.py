"""Prediction-log ingestion through a real `gatekeeper serve` process, on Postgres and on SQLite: rows/s
from one client on the JSON route (`POST /v1/targets/{t}/prediction-logs`, batches of its 10,000-row
limit, one after the other) and on the bulk route (`POST .../prediction-logs/bulk`, one body: JSONL, or
an Arrow IPC stream of 65,536-row record batches).

Target (issue 18): >= 100,000 rows/s into Postgres from one client on the bulk route; SQLite is reported.
Each route runs `--runs` times on fresh request_ids; the median and the spread (min-max) are printed.
Bodies are built before the clock starts (the client's own encoding is not timed), the same way for
every route. Rows look like the serving layer's: slices, a short text, two features.

    python benchmarks/prediction_logs.py [--rows 200000] [--runs 3] [--engines postgres,sqlite]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import psycopg
import pyarrow as pa
from api import SERVER, TAGS, TARGET, free_port
from pydantic_core import to_json

from gatekeeper.config import PROJECT_ROOT, Settings
from gatekeeper.db import Database
from gatekeeper.drift.schemas import MAX_BATCH
from gatekeeper.migrate import upgrade
from gatekeeper.registry import service as registry
from gatekeeper.registry.artifacts import artifact_sha256
from gatekeeper.registry.auth import create_token
from gatekeeper.registry.schemas import CandidateCreate, TargetCreate
from gatekeeper.registry.states import Status

T0 = datetime(2030, 1, 7, tzinfo=UTC)
PIECE = 1 << 20
WORDS = ["manga", "volume", "order", "where", "refund", "help", "agent", "new", "series", "最新", "巻"]


def rows(n: int, candidate: uuid.UUID, run: str, seed: int, start: datetime = T0) -> list[dict]:
    """n served predictions from ``start`` on, a millisecond apart: logs arrive in time order, so each
    run starts where the last one ended (as a serving fleet's batches would)."""
    rng = np.random.default_rng(seed)
    conf, price = rng.beta(8, 2, n), rng.normal(20, 5, n)
    classes = ["faq", "order_status", "recommendation", "escalation", "chitchat"]
    return [
        {
            "ts": (start + timedelta(milliseconds=i)).isoformat(),
            "request_id": f"{run}-{i}",
            "candidate_id": str(candidate),
            "prediction": classes[i % 5],
            "confidence": float(conf[i]),
            "lang": ("en", "ja", "mixed")[i % 3],
            "cohort": ("new", "returning")[i % 2],
            "device": ("ios", "android", "web")[i % 3],
            "catalog_tier": "gold",
            "time_bucket": "night",
            "text": " ".join(WORDS[(i + k) % len(WORDS)] for k in range(5)),
            "features": {"price": float(price[i]), "length": 5},
        }
        for i in range(n)
    ]


def seed_database(url: str, work: Path) -> tuple[str, uuid.UUID]:
    """A target with a champion and a serving token; (secret, champion id)."""
    upgrade(url)
    db = Database.from_url(url)
    settings = Settings(database_url=url, artifact_root=work)
    (work / "m").mkdir()
    (work / "m" / "model.safetensors").write_bytes(os.urandom(64))
    policy = (PROJECT_ROOT / "policies" / "intent_classifier.yaml").read_text()
    spec = CandidateCreate(
        target=TARGET, artifact_uri="m", artifact_sha256=artifact_sha256(work / "m"), tags=TAGS
    )
    with db.transaction() as session:
        registry.create_target(
            session, spec=TargetCreate(name=TARGET, task="classification", policy=policy), actor="b"
        )
        candidate, _ = registry.register_candidate(session, spec=spec, actor="b", settings=settings)
        registry.transition(session, candidate, Status.EVALUATING, actor="b")
        registry.transition(session, candidate, Status.GATE_PASSED, actor="b")
        registry.promote_first(session, candidate_id=candidate.id, reason="bench", actor="b")
        _, secret = create_token(session, name="serving", role="serving", actor="b")
        champion = candidate.id
    db.dispose()
    return secret, champion


def serve(url: str, work: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(os.environ, GATEKEEPER_DATABASE_URL=url, GATEKEEPER_ARTIFACT_ROOT=str(work))
    server = subprocess.Popen(
        [sys.executable, "-m", "gatekeeper", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz").status_code == 200:
                return server, base
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit("gatekeeper serve did not come up")


def post(http: httpx.Client, url: str, body: bytes, media_type: str) -> httpx.Response:
    """POST a prebuilt body in 1 MiB pieces, as the typed client streams a file (given one large bytes
    object, httpx copies what is left of it after each socket write: a third of the client's time)."""
    pieces = (body[i : i + PIECE] for i in range(0, len(body), PIECE))
    return http.post(
        url, content=pieces, headers={"Content-Type": media_type, "Content-Length": str(len(body))}
    )


def timed_json_route(http: httpx.Client, batch: list[dict]) -> float:
    bodies = [to_json(batch[i : i + MAX_BATCH]) for i in range(0, len(batch), MAX_BATCH)]
    started = time.perf_counter()
    for body in bodies:
        reply = post(http, f"/v1/targets/{TARGET}/prediction-logs", body, "application/json")
        assert reply.status_code == 200 and reply.json()["duplicates"] == 0, reply.text
    return len(batch) / (time.perf_counter() - started)


def timed_bulk_route(http: httpx.Client, batch: list[dict]) -> float:
    body = b"".join(to_json(row) + b"\n" for row in batch)
    started = time.perf_counter()
    reply = post(http, f"/v1/targets/{TARGET}/prediction-logs/bulk", body, "application/x-ndjson")
    assert reply.status_code == 200 and reply.json()["accepted"] == len(batch), reply.text
    return len(batch) / (time.perf_counter() - started)


def arrow_stream(batch: list[dict]) -> bytes:
    """The rows as an Arrow IPC stream: one column a field, features as JSON text."""
    columns = {name: [row[name] for row in batch] for name in batch[0] if name != "features"}
    columns["ts"] = pa.array([datetime.fromisoformat(ts) for ts in columns["ts"]], pa.timestamp("us", "UTC"))
    columns["features"] = [to_json(row["features"]).decode() for row in batch]
    table = pa.table(columns)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=65_536)
    return sink.getvalue().to_pybytes()


def timed_arrow_route(http: httpx.Client, batch: list[dict]) -> float:
    body = arrow_stream(batch)
    started = time.perf_counter()
    reply = post(
        http, f"/v1/targets/{TARGET}/prediction-logs/bulk", body, "application/vnd.apache.arrow.stream"
    )
    assert reply.status_code == 200 and reply.json()["accepted"] == len(batch), reply.text
    return len(batch) / (time.perf_counter() - started)


ROUTES = {"json": timed_json_route, "bulk": timed_bulk_route, "arrow": timed_arrow_route}


def measure(url: str, args: argparse.Namespace) -> dict[str, list[float]]:
    work = Path(tempfile.mkdtemp(prefix="gk-logs-bench-"))
    server = None
    try:
        secret, champion = seed_database(url, work)
        server, base = serve(url, work)
        rates: dict[str, list[float]] = {route: [] for route in args.routes.split(",")}
        headers = {"Authorization": f"Bearer {secret}"}
        with httpx.Client(base_url=base, headers=headers, timeout=600) as http:
            timed_bulk_route(http, rows(1000, champion, "warm", 0))
            timed_arrow_route(http, rows(1000, champion, "warm-arrow", 0))
            start = T0 + timedelta(hours=1)
            for run in range(args.runs):  # the routes take turns, so a busy spell hits them alike
                for route, rate in rates.items():
                    rate.append(ROUTES[route](http, rows(args.rows, champion, f"{route}{run}", run, start)))
                    start += timedelta(milliseconds=args.rows)
        return rates
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


def postgres(args: argparse.Namespace) -> dict[str, list[float]]:
    name = f"gk_logs_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        return measure(
            SERVER.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}", args
        )
    finally:
        with psycopg.connect(SERVER, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def sqlite(args: argparse.Namespace) -> dict[str, list[float]]:
    folder = Path(tempfile.mkdtemp(prefix="gk-logs-sqlite-"))
    try:
        return measure(f"sqlite:///{folder / 'gatekeeper.db'}", args)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def line(engine: str, route: str, rates: list[float], target: float | None) -> str:
    median = statistics.median(rates)
    verdict = f" (target >= {target:,.0f} rows/s: {'PASS' if median >= target else 'FAIL'})" if target else ""
    return (
        f"prediction logs, {engine}, {route}: {median:,.0f} rows/s median over {len(rates)} runs "
        f"(spread {min(rates):,.0f}-{max(rates):,.0f}){verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="rows per run and route")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--engines", default="postgres,sqlite")
    parser.add_argument("--routes", default="json,bulk,arrow", help="json, bulk (JSONL), arrow")
    args = parser.parse_args()
    names = {
        "json": "JSON route, 10,000-row batches",
        "bulk": "bulk route, one JSONL body",
        "arrow": "bulk route, one Arrow IPC body",
    }
    lines = []
    for engine in args.engines.split(","):
        rates = postgres(args) if engine == "postgres" else sqlite(args)
        for route, measured in rates.items():
            target = 100_000 if engine == "postgres" and route != "json" else None
            lines.append(line(engine, names[route], measured, target))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
