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
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
from prediction_logs import SERVER, TARGET, arrow_stream, rows, seed_database
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


def in_transaction(db: Database, work: Callable[[Any], Any]) -> tuple[float, float, float]:
    """(wall s, CPU s, Postgres backend CPU s) of ``work(session)``, rolled back after."""
    with db.transaction() as session:
        pid = session.connection().connection.driver_connection.info.backend_pid
        before = backend_cpu(pid)
        _, wall, cpu = timed(lambda: work(session))
        spent = backend_cpu(pid) - before
        session.rollback()
    return wall, cpu, spent


def phases(db: Database, champion: uuid.UUID, body: bytes, media_type: str) -> dict[str, tuple]:
    """Each phase alone, then the whole call; {phase: (wall s, this process's CPU s[, backend CPU s])}."""
    read = bulk_arrow.read if media_type == bulk.ARROW_MEDIA_TYPE else bulk_jsonl.read
    check = partial(bulk_rows.checked, candidates={champion: str(champion)}, target="intent_classifier")
    out: dict[str, tuple] = {}
    batches, *out["read and check"] = timed(lambda: list(read(io.BytesIO(body), check)))
    batches, *out["drop repeated ids"] = timed(lambda: list(bulk.Seen().first_rows(iter(batches))))
    _, *out["build COPY rows"] = timed(lambda: [bulk_write.copy_rows(batch, 1) for batch in batches])
    out["build rows + COPY"] = in_transaction(
        db, lambda session: bulk_write.write_postgres(session, 1, iter(batches))
    )
    out["ingest_bulk, all of it"] = in_transaction(
        db,
        lambda session: bulk.ingest_bulk(
            session, target_name=TARGET, source=io.BytesIO(body), media_type=media_type, actor="bench"
        ),
    )
    return out


def report(label: str, body: bytes, rows_per_body: int, runs: list[dict[str, tuple]]) -> None:
    print(f"{label} body, {len(body) / 1e6:.0f} MB; ms per 1,000 rows, median of {len(runs)}:")
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
        batch = rows(args.rows, champion, "p", 0)
        bodies = {
            "JSONL": (b"".join(to_json(row) + b"\n" for row in batch), bulk.MEDIA_TYPE),
            "Arrow IPC": (arrow_stream(batch), bulk.ARROW_MEDIA_TYPE),
        }
        for label, (body, media_type) in bodies.items():
            report(label, body, args.rows, [phases(db, champion, body, media_type) for _ in range(args.runs)])
        db.dispose()
    finally:
        shutil.rmtree(work, ignore_errors=True)
        with psycopg.connect(SERVER, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
