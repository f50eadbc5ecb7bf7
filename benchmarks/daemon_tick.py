"""One canary-daemon tick over 1,000 running canaries, each with a day of 5-minute windows for canary
and holdout (288 + 288) plus the baseline hour, 4 rules: target <= 1 s.

Seeds a fresh Postgres database (GATEKEEPER_BENCH_PG, default the local server) with bulk COPY, then
times ``CanaryDaemon.tick()`` several times (the first tick also warms the policy cache). Also reports
how long after the tick's abort commit the serving layer's routing read shows the champion at 100%.

    python benchmarks/daemon_tick.py [--canaries 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg

from gatekeeper.canary.daemon import CanaryDaemon
from gatekeeper.canary.routing import routing
from gatekeeper.clock import ManualClock
from gatekeeper.config import Settings
from gatekeeper.db import Database
from gatekeeper.migrate import upgrade

SERVER = os.environ.get("GATEKEEPER_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
POLICY = open(os.path.join(os.path.dirname(__file__), "..", "policies", "intent_classifier.yaml")).read()
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def fresh_database() -> str:
    name = f"gk_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = SERVER.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}"
    upgrade(url)
    return url


def seed(url: str, n: int, breaching: int, now: datetime = NOW) -> list[str]:
    """Targets, a champion and a canary candidate each, running canaries and a day of windows to ``now``."""

    from gatekeeper.policy.schema import parse_policy

    body = json.dumps(parse_policy(POLICY).model_dump(mode="json"))
    start = now - timedelta(days=1)
    canary_ids = []
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn, conn.cursor() as cur:
        for i in range(n):
            tid = _insert_target(cur, f"t{i:04d}", body, now)
            champion, candidate = _insert_candidates(cur, tid, f"t{i:04d}", now)
            canary_ids.append(_insert_canary(cur, tid, candidate, champion, start))
        conn.commit()
        _copy_windows(cur, canary_ids, breaching, start, now)
        conn.commit()
    return canary_ids


def _insert_target(cur: psycopg.Cursor, name: str, body: str, now: datetime) -> int:
    """A target and its policy version 1."""
    cur.execute(
        "INSERT INTO targets (name, task, policy_version, always_extended_canary,"
        " rollback_sla_seconds, next_version, routing_generation, created_at, created_by)"
        " VALUES (%s, 'classification', 1, false, 60, 3, 0, %s, 'bench') RETURNING id",
        (name, now),
    )
    tid = cur.fetchone()[0]
    cur.execute(
        "INSERT INTO policy_versions (target_id, version, yaml, body, sha256, created_at, created_by)"
        " VALUES (%s, 1, %s, %s, 'x', %s, 'bench')",
        (tid, POLICY, body, now),
    )
    return tid


def _insert_candidates(cur: psycopg.Cursor, tid: int, name: str, now: datetime) -> list[uuid.UUID]:
    """Version 1, the champion, and version 2, in canary: their ids in that order."""
    ids = [uuid.uuid4(), uuid.uuid4()]
    for version, (cid, status) in enumerate(zip(ids, ("champion", "canary"), strict=True), 1):
        cur.execute(
            "INSERT INTO candidates (id, target_id, version, artifact_uri, artifact_sha256,"
            " model_target, code_revision, data_snapshot_id, label_version, feature_schema_version,"
            " seed, submitter, metadata, status, status_changed_at, created_at)"
            " VALUES (%s, %s, %s, 'm', %s, %s, 'c', 'd', 'l', 'f', '1', 'bench', '{}', %s, %s, %s)",
            (cid, tid, version, uuid.uuid4().hex * 2, name, status, now, now),
        )
    return ids


def _insert_canary(
    cur: psycopg.Cursor, tid: int, candidate: uuid.UUID, champion: uuid.UUID, start: datetime
) -> str:
    """A canary running at 1 % since ``start``, its baseline the hour before."""
    canary = uuid.uuid4()
    cur.execute(
        "INSERT INTO canaries (id, target_id, candidate_id, champion_id, state, extended, plan,"
        " stage, stage_started_at, armed_since, baseline_start, started_at, reenables, created_by)"
        " VALUES (%s, %s, %s, %s, 'running', false, %s, 0, %s, %s, %s, %s, 0, 'bench')",
        (
            canary,
            tid,
            candidate,
            champion,
            json.dumps([{"share": 0.01, "days": 7}]),
            start,
            start,
            start - timedelta(hours=1),
            start,
        ),
    )
    return str(canary)


def _copy_windows(
    cur: psycopg.Cursor, canary_ids: list[str], breaching: int, start: datetime, now: datetime
) -> None:
    """The baseline hour and a day of canary and holdout windows; the first ``breaching`` canaries err
    five times as often as their holdout."""
    rng = np.random.default_rng(0)
    with cur.copy(
        "COPY metric_windows (canary_id, grp, start_s, end_s, requests, errors, latency_p99_ms, safety,"
        " exceptions, received_at) FROM STDIN"
    ) as copy:
        t0 = int(start.timestamp())
        for k, canary in enumerate(canary_ids):
            bad = k < breaching
            for group, count, first in (
                ("baseline", 12, t0 - 3600),
                ("canary", 288, t0),
                ("holdout", 288, t0),
            ):
                scale = 1.0 if group == "canary" else 99.0
                req = rng.poisson(800 * scale, count)
                errs = rng.binomial(req, 0.02 if (bad and group == "canary") else 0.004)
                p99 = rng.lognormal(np.log(120), 0.1, count)
                safety = rng.normal(0.88, 0.01, count)
                for j in range(count):
                    s = first + 300 * j
                    row = (canary, group, s, s + 300, int(req[j]), int(errs[j]), float(p99[j]))
                    rate = json.dumps({"escalation_resolution_rate": float(safety[j])})
                    copy.write_row((*row, rate, "{}", now))


def post_next_windows(url: str, ids: list[str], start: datetime) -> None:
    """What the serving layer sends every 5 minutes: one canary and one holdout window per canary."""
    s = int(start.timestamp())
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn, conn.cursor() as cur:
        with cur.copy(
            "COPY metric_windows (canary_id, grp, start_s, end_s, requests, errors, latency_p99_ms,"
            " safety, exceptions, received_at) FROM STDIN"
        ) as copy:
            for canary in ids:
                for group, req in (("canary", 800), ("holdout", 79200)):
                    copy.write_row(
                        (
                            canary,
                            group,
                            s,
                            s + 300,
                            req,
                            req // 250,
                            120.0,
                            '{"escalation_resolution_rate": 0.88}',
                            "{}",
                            datetime.now(UTC),
                        )
                    )
        conn.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--canaries", type=int, default=1000)
    parser.add_argument("--breaching", type=int, default=10, help="canaries whose error rate trips the rule")
    args = parser.parse_args()
    url = fresh_database()
    began = time.perf_counter()
    ids = seed(url, args.canaries, args.breaching)
    print(f"seeded {len(ids)} canaries x (288 + 288 + 12) windows in {time.perf_counter() - began:.1f}s")
    db = Database.from_url(url)
    clock = ManualClock(NOW)
    daemon = CanaryDaemon(db, Settings(database_url=url), clock=clock, name="bench", echo=lambda _: None)
    first = daemon.tick()
    print(
        f"tick 1: {first.seconds:.3f}s (load {first.load_seconds:.3f}s) over {first.canaries} canaries, "
        f"aborted {len(first.aborted)}"
    )
    with db.session() as session:
        t0 = time.perf_counter()
        routes = routing(session, "t0000").routes
        read_ms = (time.perf_counter() - t0) * 1000
    print(
        f"routing read after the abort: champion weight {routes[0].weight} (read took {read_ms:.1f} ms; "
        "visible as soon as the abort's transaction committed inside the tick)"
    )
    times = []
    for k in range(5):
        post_next_windows(url, ids, NOW + timedelta(minutes=5 * k))
        clock.advance(timedelta(minutes=5))
        report = daemon.tick()
        times.append(report.seconds)
    median = statistics.median(times)
    print(
        f"steady ticks over {report.canaries} canaries: median {median:.3f}s, max {max(times):.3f}s "
        f"(load median {report.load_seconds:.3f}s)"
    )
    print(f"target <= 1 s: {'PASS' if median <= 1.0 else 'FAIL'}")
    db.dispose()
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


if __name__ == "__main__":
    main()
