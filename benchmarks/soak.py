"""A soak under mixed load (`make soak`, ten minutes by default; not in CI), all on 127.0.0.1.

On a fresh Postgres database (GATEKEEPER_BENCH_PG, default the local server), a real `gatekeeper serve`
and two `gatekeeper canary-daemon` processes (a leader and a standby) run while:

- `--clients` CI clients (32) each register a candidate, request its gate (``POST …/evaluations``) and
  poll the evaluation twice, with exponential think time (mean `--think` s). No worker runs: the gate's
  compute is measured by benchmarks/gate_overhead.py; here it is the API's share of the load;
- `--pollers` serving-layer instances (8) poll ``GET /v1/targets/{t}/routing`` (mean `--poll` s);
- the serving layer posts the latest 5-minute canary and holdout window of each of `--canaries` (20)
  running canaries every `--post` s (the same window again until the next one is due: append-only,
  so a repeat is answered ``unchanged``);
- the daemons tick every `--tick` s; half-way through, the leader is killed -9 mid-run and the time
  until the standby says it leads is measured.

Every loop ends at the deadline. Reports the errors (any unexpected status or exception), the p50/p95
of each route and the takeover time.

    python benchmarks/soak.py [--minutes 10] [--clients 32] [--pollers 8] [--canaries 20]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from api import TAGS, Client, free_port, summary, wait_until_up  # noqa: E402
from daemon_tick import SERVER, fresh_database, seed  # noqa: E402

from gatekeeper.config import PROJECT_ROOT  # noqa: E402
from gatekeeper.db import Database  # noqa: E402
from gatekeeper.registry.artifacts import artifact_sha256  # noqa: E402
from gatekeeper.registry.auth import create_token  # noqa: E402

WINDOW = 300


class Stats:
    """Latencies per route and unexpected answers, from every thread."""

    def __init__(self) -> None:
        self.seconds: dict[str, list[float]] = defaultdict(list)
        self.errors: Counter[str] = Counter()
        self.examples: dict[str, str] = {}
        self.lock = threading.Lock()

    def call(
        self, client: Client, route: str, method: str, path: str, body: dict | None, expect: int
    ) -> bytes:
        started = time.perf_counter()
        try:
            status, payload = client.request(method, path, body)
        except OSError as exc:
            status, payload = 0, str(exc).encode()
        took = time.perf_counter() - started
        with self.lock:
            self.seconds[route].append(took)
            if status != expect:
                self.errors[route] += 1
                self.examples.setdefault(route, f"HTTP {status}: {payload[:200]!r}")
        return payload if status == expect else b""


def until(deadline: float, rng: random.Random, mean: float) -> bool:
    """Think for an exponential while; False once the deadline has passed."""
    time.sleep(rng.expovariate(1.0 / mean))
    return time.monotonic() < deadline


def ci_client(stats: Stats, client: Client, work: Path, deadline: float, seed_: int, think: float) -> None:
    """Register a fresh artifact, request its gate, poll the evaluation twice; again until the deadline."""
    rng = random.Random(seed_)
    n = 0
    while until(deadline, rng, think):
        folder = work / f"c{seed_}-{n}"
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(os.urandom(64))
        n += 1
        spec = {"target": "intent_classifier", "artifact_uri": folder.name, "tags": TAGS}
        spec["artifact_sha256"] = artifact_sha256(folder)
        created = stats.call(client, "POST /v1/candidates", "POST", "/v1/candidates", spec, 201)
        if not created:
            continue
        path = f"/v1/candidates/{json.loads(created)['id']}/evaluations"
        queued = stats.call(client, "POST /v1/candidates/{id}/evaluations", "POST", path, {}, 202)
        for _ in range(2 if queued else 0):
            if not until(deadline, rng, think):
                return
            evaluation = f"/v1/evaluations/{json.loads(queued)['id']}"
            stats.call(client, "GET /v1/evaluations/{id}", "GET", evaluation, None, 200)


def poller(
    stats: Stats, client: Client, deadline: float, seed_: int, poll: float, targets: list[str]
) -> None:
    rng = random.Random(seed_)
    while until(deadline, rng, poll):
        target = rng.choice(targets)
        stats.call(client, "GET /v1/targets/{t}/routing", "GET", f"/v1/targets/{target}/routing", None, 200)


def latest_windows(seeded_until: int, now: float) -> list[dict]:
    """The newest canary and holdout window that may be posted now (its end within the server's skew),
    never before the seeded day ends; the same figures for the same window, so a repeat is identical."""
    start = max(seeded_until, seeded_until + (int(now) - seeded_until) // WINDOW * WINDOW)
    at = [datetime.fromtimestamp(t, UTC).isoformat() for t in (start, start + WINDOW)]
    safety = {"escalation_resolution_rate": 0.88}
    return [
        {"group": g, "start": at[0], "end": at[1], "requests": r, "errors": r // 250,
         "latency_p99_ms": 120.0, "safety": safety, "exceptions": {}}
        for g, r in (("canary", 800), ("holdout", 79200))
    ]  # fmt: skip


def serving(
    stats: Stats, client: Client, deadline: float, canaries: list[str], seeded_until: int, every: float
) -> None:
    rng = random.Random(0)
    while until(deadline, rng, every):
        for canary in canaries:
            body = {"windows": latest_windows(seeded_until, time.time())}
            stats.call(
                client, "POST /v1/canaries/{id}/metrics", "POST", f"/v1/canaries/{canary}/metrics", body, 200
            )


def start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "gatekeeper", *argv], env=env, stdout=subprocess.DEVNULL, stderr=log.open("w")
    )


def led_at(log: Path) -> float | None:
    """When a daemon said it became leader (epoch seconds), if it did."""
    found = re.search(r" is leader at ([0-9.]+)", log.read_text(errors="replace")) if log.exists() else None
    return float(found.group(1)) if found else None


def wait(predicate: Callable[[], object], timeout: float) -> object:
    deadline = time.monotonic() + timeout
    while (value := predicate()) is None or value is False:
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for the daemons")
        time.sleep(0.01)
    return value


def takeover(daemons: list[subprocess.Popen], logs: list[Path], at: float) -> float:
    """Sleep until ``at`` (monotonic), kill -9 the leader, return the seconds until the standby led."""
    time.sleep(max(0.0, at - time.monotonic()))
    leader = 0 if led_at(logs[0]) else 1
    killed = time.time()
    daemons[leader].send_signal(signal.SIGKILL)
    daemons[leader].wait(timeout=10)
    return float(wait(lambda: led_at(logs[1 - leader]), 60)) - killed  # type: ignore[arg-type]


def prepare(url: str, canaries: int) -> tuple[str, list[str], int]:
    """Tokens and the running canaries (a day of windows each, up to now)."""
    db = Database.from_url(url)
    with db.transaction() as session:
        _, secret = create_token(session, name="soak", role="admin", actor="soak")
    db.dispose()
    now = datetime.now(UTC).replace(microsecond=0)
    ids = seed(url, canaries, 0, now=now)
    return secret, ids, int(now.timestamp())


def run(args: argparse.Namespace, url: str, work: Path) -> tuple[Stats, float, int]:
    secret, canaries, seeded_until = prepare(url, args.canaries)
    env = dict(os.environ, GATEKEEPER_DATABASE_URL=url, GATEKEEPER_ARTIFACT_ROOT=str(work))
    port = free_port()
    server = start(["serve", "--port", str(port)], env, work / "serve.log")
    logs = [work / f"daemon-{i}.log" for i in range(2)]
    daemons = [start(["canary-daemon", "--tick-seconds", str(args.tick), "--name", f"soak-{i}"], env, log)
               for i, log in enumerate(logs)]  # fmt: skip
    try:
        client = Client(port, secret)
        wait_until_up(client, server, timeout=300)  # imports take a while on a loaded box
        wait(lambda: led_at(logs[0]) or led_at(logs[1]), 60)
        policy = (PROJECT_ROOT / "policies" / "intent_classifier.yaml").read_text()
        target = {"name": "intent_classifier", "task": "classification", "policy": policy}
        assert client.request("POST", "/v1/targets", target)[0] == 201
        stats = Stats()
        deadline = time.monotonic() + args.minutes * 60
        threads = [threading.Thread(target=ci_client, args=(stats, client, work, deadline, i, args.think))
                   for i in range(args.clients)]  # fmt: skip
        targets = [f"t{i:04d}" for i in range(args.canaries)]
        threads += [threading.Thread(target=poller, args=(stats, client, deadline, i, args.poll, targets))
                    for i in range(args.pollers)]  # fmt: skip
        threads.append(
            threading.Thread(
                target=serving, args=(stats, client, deadline, canaries, seeded_until, args.post)
            )
        )
        for thread in threads:
            thread.start()
        took = takeover(daemons, logs, deadline - args.minutes * 30)
        for thread in threads:
            thread.join()
        ticks = sum(log.read_text().count("[TICK]") for log in logs)
        return stats, took, ticks
    finally:
        for process in [server, *daemons]:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=30)


def report(stats: Stats, took: float, ticks: int, args: argparse.Namespace) -> None:
    total = sum(len(v) for v in stats.seconds.values())
    errors = sum(stats.errors.values())
    print(
        f"soak: {args.minutes:g} min, {total} requests, {errors} errors, "
        f"{ticks} daemon ticks (every {args.tick:g} s)"
    )
    for route in sorted(stats.seconds):
        p50, p95 = summary(stats.seconds[route])
        n = len(stats.seconds[route])
        print(f"  {route:<40} n={n:>6}  p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  errors {stats.errors[route]}")
    for route, example in stats.examples.items():
        print(f"  first error on {route}: {example}")
    print(
        f"leader killed -9 mid-soak: the standby led {took:.3f} s later "
        f"(lease period = tick = {args.tick:g} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--think", type=float, default=2.0, help="mean think time of a CI client, s")
    parser.add_argument("--pollers", type=int, default=8)
    parser.add_argument("--poll", type=float, default=0.5, help="mean interval of a routing poller, s")
    parser.add_argument("--canaries", type=int, default=20)
    parser.add_argument("--post", type=float, default=5.0, help="mean interval of the window posts, s")
    parser.add_argument("--tick", type=float, default=5.0, help="daemon tick (and lease period), s")
    args = parser.parse_args()
    url = fresh_database()
    work = Path(tempfile.mkdtemp(prefix="gk-soak-"))
    try:
        stats, took, ticks = run(args, url, work)
    finally:
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(SERVER, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(work, ignore_errors=True)
    report(stats, took, ticks, args)


if __name__ == "__main__":
    main()
