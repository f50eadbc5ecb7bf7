"""Where a bulk prediction-log batch spends its time, phase by phase, in one process on Postgres (no
HTTP): reading and checking the body (JSONL or Arrow IPC), dropping repeated request_ids, building the
COPY text, the COPY itself (wall time and the Postgres backend's own CPU time), then the whole
``ingest_bulk`` call in one transaction. Companion to ``prediction_logs.py`` (which times the route).

Figures are ms per 1,000 rows, medians over `--runs`, with the CPU time this process and the Postgres
backend spent on each phase (on a shared box, CPU time is steadier than wall time).

    python benchmarks/prediction_logs_phases.py [--rows 200000] [--runs 3]
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
from prediction_logs import SERVER, T0, TARGET, arrow_stream, rows, seed_database
from pydantic_core import to_json

from gatekeeper.db import Database
from gatekeeper.drift import bulk, bulk_arrow, bulk_jsonl, bulk_rows, bulk_write

TICK = os.sysconf("SC_CLK_TCK")


def backend_cpu(pid: int) -> float:
    """CPU seconds the Postgres backend ``pid`` has used (it runs on this box)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def timed(work: Callable[[], Any]) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = work()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def committed(db: Database, work: Callable[[Any], Any]) -> tuple[float, float, float]:
    """(wall s, CPU s, Postgres backend CPU s) of ``work(session)``, then committed (outside the clock:
    rolled-back rows would leave dead index entries that every later run checks)."""
    with db.transaction() as session:
        pid = session.connection().connection.driver_connection.info.backend_pid
        before = backend_cpu(pid)
        _, wall, cpu = timed(lambda: work(session))
        spent = backend_cpu(pid) - before
    return wall, cpu, spent


def phases(
    db: Database, bodies: tuple[bytes, bytes], champion: uuid.UUID, media_type: str
) -> dict[str, tuple]:
    """Each phase alone on the first body, then the whole call on the second (other request_ids);
    {phase: (wall s, this process's CPU s[, backend CPU s])}."""
    read = bulk_arrow.read if media_type == bulk.ARROW_MEDIA_TYPE else bulk_jsonl.read
    check = partial(bulk_rows.checked, candidates={champion: str(champion)}, target=TARGET)
    out: dict[str, tuple] = {}
    batches, *out["read and check"] = timed(lambda: list(read(io.BytesIO(bodies[0]), check)))
    batches, *out["drop repeated ids"] = timed(lambda: list(bulk.Seen().first_rows(iter(batches))))
    _, *out["build COPY rows"] = timed(lambda: [bulk_write.copy_rows(batch, 1) for batch in batches])
    out["build rows + COPY"] = committed(
        db, lambda session: bulk_write.write_postgres(session, 1, iter(batches))
    )
    out["ingest_bulk, all of it"] = committed(
        db,
        lambda session: bulk.ingest_bulk(
            session, target_name=TARGET, source=io.BytesIO(bodies[1]), media_type=media_type, actor="bench"
        ),
    )
    return out


def bodies(kind: str, champion: uuid.UUID, n: int, run: int) -> tuple[bytes, bytes]:
    """Two bodies of n rows, fresh request_ids, each starting where the last ended (logs come in order)."""
    out = []
    for half in range(2):
        batch = rows(
            n, champion, f"{kind}{run}-{half}", run, T0 + timedelta(milliseconds=n * (4 * run + half))
        )
        out.append(
            arrow_stream(batch) if kind == "arrow" else b"".join(to_json(row) + b"\n" for row in batch)
        )
    return out[0], out[1]


def report(label: str, size: int, rows_per_body: int, runs: list[dict[str, tuple]]) -> None:
    print(f"{label} body, {size / 1e6:.0f} MB; ms per 1,000 rows, median of {len(runs)}:")
    for phase, first in runs[0].items():
        per_k = [
            statistics.median(run[phase][i] for run in runs) * 1e6 / rows_per_body for i in range(len(first))
        ]
        backend = f", Postgres backend CPU {per_k[2]:5.1f}" if len(per_k) > 2 else ""
        print(f"  {phase:<24} wall {per_k[0]:5.1f}, this process's CPU {per_k[1]:5.1f}{backend}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    name = f"gk_logs_phases_{uuid.uuid4().hex[:8]}"
    work = Path(tempfile.mkdtemp(prefix="gk-logs-phases-"))
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = SERVER.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}"
        _, champion = seed_database(url, work)
        db = Database.from_url(url)
        for kind, label, media_type in (
            ("jsonl", "JSONL", bulk.MEDIA_TYPE),
            ("arrow", "Arrow IPC", bulk.ARROW_MEDIA_TYPE),
        ):
            runs, size = [], 0
            for run in range(args.runs):
                pair = bodies(kind, champion, args.rows, run + (args.runs if kind == "arrow" else 0))
                runs.append(phases(db, pair, champion, media_type))
                size = len(pair[0])
            report(label, size, args.rows, runs)
        db.dispose()
    finally:
        shutil.rmtree(work, ignore_errors=True)
        with psycopg.connect(SERVER, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
