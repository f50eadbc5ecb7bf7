"""API latency on Postgres through a real `gatekeeper serve` process on a fresh database.

Targets (DESIGN section 11): candidate registration p95 <= 50 ms with 32 concurrent clients, routing
read p95 <= 10 ms; for a serving fleet (issue 18) >= 5,000 routing reads/s on one process with p99 <= 5 ms
at 64 pollers, and a change visible to every poller within 1 s. The registration measurements, because
"32 concurrent clients" can mean two different loads:

- paced: 32 CI clients that each register a candidate, then wait (exponential think time, mean
  `--think` seconds) before the next: the load a fleet of CI jobs puts on the registry. Gated.
- saturated: the same 32 clients with no think time, all registering into one target at once. On a
  2-core box this measures throughput, not latency: by Little's law the mean latency is
  clients / throughput, so it is printed for information, not compared with the target.
- routing reads: one reader alone, then `--readers` serving-layer instances polling
  `GET /v1/targets/{t}/routing` (exponential intervals, mean `--poll` seconds). Gated.

The fleet (`--only fleet` runs it alone; benchmarks/fleet.py): `--pollers` (64) keep-alive connections
polling with If-None-Match at `--rate` reads/s in all for `--seconds`: reads/s, p50 and p99, and the
server's CPU time per read (a figure the other load on a shared box does not move much); the same
pollers back to back (saturation, information only); then `--changes` rollbacks committed by this
process, as a daemon in another process would (the server learns of them by NOTIFY), while the fleet
polls and while it long-polls (`?wait_for_generation=N`): the time until the last poller saw each change.

The registration load generator uses the standard library's http.client (keep-alive) so that it takes as
little of the shared CPU as it can; the server, Postgres and the clients still share the same cores.

    python benchmarks/api.py [--only all|registration|fleet] [--workers 1] [--clients 32] [--think 1.0]
                             [--registrations 640] [--pollers 64] [--rate 5000] [--seconds 10] [--changes 8]
"""

from __future__ import annotations

import argparse
import asyncio
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import psycopg
import uvloop
from fleet import latency_summary, poll_fleet, visibility
from sqlalchemy import select

from gatekeeper.config import PROJECT_ROOT
from gatekeeper.db import Database
from gatekeeper.migrate import upgrade
from gatekeeper.registry import service as registry
from gatekeeper.registry.artifacts import artifact_sha256
from gatekeeper.registry.auth import create_token
from gatekeeper.registry.models import Target
from gatekeeper.registry.states import Status

TARGET = "intent_classifier"
ROUTING = f"/v1/targets/{TARGET}/routing"
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


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["all", "registration", "fleet"], default="all")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--think", type=float, default=1.0, help="mean think time of a paced client, s")
    parser.add_argument("--registrations", type=int, default=640, help="per phase")
    parser.add_argument("--readers", type=int, default=8, help="serving-layer instances polling routing")
    parser.add_argument("--poll", type=float, default=0.05, help="mean interval between a reader's polls, s")
    parser.add_argument("--reads", type=int, default=4000)
    parser.add_argument("--pollers", type=int, default=64, help="fleet: serving instances")
    parser.add_argument("--rate", type=float, default=5000, help="fleet: routing reads/s offered in all")
    parser.add_argument("--seconds", type=float, default=10, help="fleet: length of each phase")
    parser.add_argument("--changes", type=int, default=8, help="fleet: rollbacks per visibility phase")
    return parser.parse_args()


def main() -> None:
    args = arguments()
    name = f"gk_api_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = SERVER.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}"
    work = Path(tempfile.mkdtemp(prefix="gk-api-bench-"))
    server, lines = None, []
    try:
        upgrade(url)
        db = Database.from_url(url)
        with db.transaction() as session:
            _, secret = create_token(session, name="bench", role="admin", actor="bench")
        server, port = start_server(url, work, args.workers)
        client = Client(port, secret)
        wait_until_up(client, server)
        policy = (PROJECT_ROOT / "policies" / "intent_classifier.yaml").read_text()
        status, body = client.request(
            "POST", "/v1/targets", {"name": TARGET, "task": "classification", "policy": policy}
        )
        assert status == 201, body
        if args.only in ("all", "registration"):
            lines += registration_phases(args, client, work)
        if args.only in ("all", "fleet"):
            lines += fleet_phases(args, db, client, work, server.pid)
        db.dispose()
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
        with psycopg.connect(SERVER, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print("\n".join(lines))


def start_server(url: str, work: Path, workers: int) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = dict(os.environ, GATEKEEPER_DATABASE_URL=url, GATEKEEPER_ARTIFACT_ROOT=str(work))
    server = subprocess.Popen(
        [sys.executable, "-m", "gatekeeper", "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return server, port


def make_artifacts(work: Path, prefix: str, n: int) -> list[tuple[str, str]]:
    out = []
    for i in range(n):
        (work / f"{prefix}{i}").mkdir()
        (work / f"{prefix}{i}" / "model.safetensors").write_bytes(os.urandom(64))
        out.append((f"{prefix}{i}", artifact_sha256(work / f"{prefix}{i}")))
    return out


def register(client: Client, artifact: tuple[str, str]) -> tuple[float, dict]:
    started = time.perf_counter()
    status, body = client.request(
        "POST",
        "/v1/candidates",
        {"target": TARGET, "artifact_uri": artifact[0], "artifact_sha256": artifact[1], "tags": TAGS},
    )
    assert status == 201, body
    return time.perf_counter() - started, json.loads(body)


def registration_phases(args: argparse.Namespace, client: Client, work: Path) -> list[str]:
    """Paced and saturated registration, then routing reads alone and by a few paced readers."""
    artifacts = make_artifacts(work, "m", 2 * args.registrations)

    def paced_client(batch: list[tuple[str, str]], seed: int) -> list[float]:
        rng = random.Random(seed)
        out = []
        for artifact in batch:
            time.sleep(rng.expovariate(1.0 / args.think))
            out.append(register(client, artifact)[0])
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
        saturated = [r[0] for r in pool.map(lambda a: register(client, a), saturated_set)]
    throughput = len(saturated) / (time.perf_counter() - started)
    lines = registration_lines(args, paced, paced_rate, saturated, throughput)
    return lines + paced_read_lines(args, client)


def registration_lines(
    args: argparse.Namespace, paced: list[float], rate: float, saturated: list[float], throughput: float
) -> list[str]:
    p50, p95 = summary(paced)
    verdict = "PASS" if p95 <= 50 else "FAIL"
    lines = [
        f"registration, {args.clients} paced clients ({rate:.0f} req/s offered): "
        f"p50 {p50:.1f} ms, p95 {p95:.1f} ms over {len(paced)} (target <= 50 ms: {verdict})"
    ]
    p50, p95 = summary(saturated)
    lines.append(
        f"registration, {args.clients} clients back to back (saturation, information only): "
        f"{throughput:.0f} req/s, p50 {p50:.1f} ms, p95 {p95:.1f} ms over {len(saturated)}"
    )
    return lines


def paced_read_lines(args: argparse.Namespace, client: Client) -> list[str]:
    def read(_: int) -> float:
        started = time.perf_counter()
        status, body = client.request("GET", ROUTING)
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
    p50, p95 = summary(alone)
    lines = [f"routing read, one reader alone: p50 {p50:.1f} ms, p95 {p95:.1f} ms over {len(alone)}"]
    p50, p95 = summary(reads)
    verdict = "PASS" if p95 <= 10 else "FAIL"
    lines.append(
        f"routing read, {args.readers} polling readers ({read_rate:.0f} req/s): p50 {p50:.1f} ms, "
        f"p95 {p95:.1f} ms over {len(reads)} (target <= 10 ms: {verdict})"
    )
    return lines


# --- the serving fleet (issue 18) ------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def champions(db: Database, client: Client, work: Path, n: int) -> None:
    """``n`` candidates promoted in turn: the last is champion, the others retired, so that ``n - 1``
    rollbacks can follow (each a real routing change)."""
    ids = [register(client, a)[1]["id"] for a in make_artifacts(work, "fleet", n)]
    with db.transaction() as session:
        for cid in ids:
            candidate = registry.get_candidate(session, cid, lock=True)
            registry.transition(session, candidate, Status.EVALUATING, actor="bench")
            registry.record_decision(
                session, candidate=candidate, stage="offline", verdict="pass", actor="bench"
            )
            registry.transition(session, candidate, Status.GATE_PASSED, actor="bench")
    status, body = client.request("POST", f"/v1/candidates/{ids[0]}/promote", {"reason": "fleet benchmark"})
    assert status == 200, body
    for old, new in zip(ids, ids[1:], strict=False):
        with db.transaction() as session:
            registry.transition(
                session, registry.get_candidate(session, old, lock=True), Status.RETIRED, actor="b"
            )
            registry.transition(
                session, registry.get_candidate(session, new, lock=True), Status.CHAMPION, actor="b"
            )


def rollback(db: Database) -> tuple[int, float]:
    """Roll the champion back, as the daemon of another process would; (new generation, commit time)."""
    with db.session(write=True) as session:
        registry.rollback(session, target_name=TARGET, reason="fleet benchmark", actor="bench")
        generation = session.scalar(select(Target.routing_generation).where(Target.name == TARGET))
        committed = time.monotonic()  # just before: the answer is late rather than early
        session.commit()
    return generation, committed


async def with_changes(db: Database, fleet_run, changes: int, spacing: float):  # noqa: ANN001, ANN201
    """Run the fleet while committing ``changes`` rollbacks ``spacing`` seconds apart."""
    loop = asyncio.get_running_loop()

    async def change_all() -> list[tuple[int, float]]:
        commits, start = [], time.monotonic()
        for i in range(1, changes + 1):
            await asyncio.sleep(max(0.0, start + i * spacing - time.monotonic()))
            commits.append(await loop.run_in_executor(None, rollback, db))
        return commits

    return await asyncio.gather(fleet_run, change_all())


def fleet_phases(args: argparse.Namespace, db: Database, admin: Client, work: Path, pid: int) -> list[str]:
    with db.transaction() as session:
        _, secret = create_token(session, name="fleet", role="serving", actor="bench")
    champions(db, admin, work, 2 * args.changes + 1)
    port, n = admin.port, args.pollers

    def fleet(rate: float, seconds: float, long_poll: bool = False):  # noqa: ANN202
        return poll_fleet(port, ROUTING, secret, pollers=n, rate=rate, seconds=seconds, long_poll=long_poll)

    uvloop.run(fleet(1000, 2))  # warm: connections, caches
    cpu = cpu_seconds(pid)
    steady = uvloop.run(fleet(args.rate, args.seconds))
    cpu = cpu_seconds(pid) - cpu
    saturated = uvloop.run(fleet(0, min(args.seconds, 5)))
    spacing = args.seconds / (args.changes + 1)
    polled, polled_commits = uvloop.run(
        with_changes(db, fleet(args.rate, args.seconds), args.changes, spacing)
    )
    waited, waited_commits = uvloop.run(with_changes(db, fleet(0, args.seconds, True), args.changes, spacing))
    return fleet_lines(
        args,
        steady=(latency_summary(steady), cpu),
        saturated=latency_summary(saturated),
        seen_polling=visibility(polled, polled_commits),
        seen_waiting=visibility(waited, waited_commits),
    )


def fleet_lines(args: argparse.Namespace, *, steady, saturated, seen_polling, seen_waiting) -> list[str]:  # noqa: ANN001
    (reads, p50, p99), cpu = steady
    rate = reads / args.seconds
    verdict = "PASS" if rate >= 5000 and p99 <= 5 else "FAIL"
    lines = [
        f"routing read, fleet of {args.pollers} pollers at {args.rate:.0f}/s offered: {rate:.0f} reads/s, "
        f"p50 {p50:.2f} ms, p99 {p99:.2f} ms over {reads} (target >= 5,000 reads/s, p99 <= 5 ms: {verdict})",
        f"routing read, server CPU per read: {cpu / reads * 1e6:.0f} us "
        f"(one core at that cost: {reads / cpu:,.0f} reads/s)",
    ]
    reads, p50, p99 = saturated
    lines.append(
        f"routing read, {args.pollers} pollers back to back (saturation, information only): "
        f"{reads / min(args.seconds, 5):.0f} reads/s, p50 {p50:.2f} ms, p99 {p99:.2f} ms"
    )
    for how, seen in (("polling with If-None-Match", seen_polling), ("long-polling", seen_waiting)):
        ms = np.asarray(seen) * 1000
        verdict = "PASS" if ms.max() <= 1000 else "FAIL"
        lines.append(
            f"change visible to all {args.pollers} pollers {how}: median {np.median(ms):.0f} ms, "
            f"max {ms.max():.0f} ms over {len(ms)} rollbacks (target <= 1,000 ms: {verdict})"
        )
    return lines


if __name__ == "__main__":
    main()
