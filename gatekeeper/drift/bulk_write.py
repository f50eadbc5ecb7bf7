"""Writing checked bulk prediction logs: ``COPY`` on Postgres, one ``executemany`` a batch on SQLite.

On Postgres each record batch becomes ``COPY`` text in a handful of Arrow compute calls (escapes,
casts, one element-wise join), never a Python call per row, and is sent while the next batch is read,
so the server inserts as Python decodes. The rows go straight into the log table under a savepoint:
nothing is read first to learn whether a request_id is already stored. If one is, the table's key
refuses the ``COPY``; the savepoint is rolled back and the same text (kept as it was sent) goes through
a temporary table and one ``INSERT ... ON CONFLICT DO NOTHING``, which skips the stored ids. Either way
the caller's transaction holds everything, so a later refusal still keeps nothing.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from psycopg.errors import UniqueViolation
from sqlalchemy.orm import Session

from gatekeeper.drift.bulk_rows import LOG_SCHEMA

COLUMNS = ", ".join(("target_id", *LOG_SCHEMA.names))
_DIRECT = f"COPY drift_prediction_logs ({COLUMNS}) FROM STDIN"
_STAGE = "CREATE TEMP TABLE gk_bulk_rows (LIKE drift_prediction_logs) ON COMMIT DROP"
_STAGED = f"COPY gk_bulk_rows ({COLUMNS}) FROM STDIN"
_MERGE = (
    f"INSERT INTO drift_prediction_logs ({COLUMNS}) SELECT {COLUMNS} FROM gk_bulk_rows "
    "ON CONFLICT (target_id, request_id) DO NOTHING"
)
_INSERT = (
    f"INSERT INTO drift_prediction_logs ({COLUMNS}) VALUES ({', '.join('?' * len(COLUMNS.split(',')))}) "
    "ON CONFLICT (target_id, request_id) DO NOTHING"
)
KEEP_IN_MEMORY = 64 << 20  # bytes of COPY text kept in memory for a retry, then on disk
_SPECIAL = r"[\\\t\n\r]"  # what COPY's text format escapes
_ESCAPES = (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"))


# --- Postgres ------------------------------------------------------------------------------------


def _escaped(column: pa.Array) -> pa.Array:
    """A text column in COPY's text format: backslash escapes, null as ``\\N``."""
    if pc.any(pc.match_substring_regex(column, _SPECIAL)).as_py():
        for old, new in _ESCAPES:
            column = pc.replace_substring(column, old, new)
    return pc.fill_null(column, "\\N")


def copy_text(batch: pa.RecordBatch, target_id: int) -> memoryview:
    """The batch as COPY text for ``COLUMNS``: one line a row, tab-separated."""
    ts = batch.column("ts").cast(pa.timestamp("us")).cast(pa.string())  # the UTC wall time, then +00
    fields = [
        str(target_id),
        _escaped(batch.column("request_id")),
        pc.binary_join_element_wise(ts, "+00", ""),
        batch.column("candidate_id"),  # canonical UUIDs: nothing to escape
        _escaped(batch.column("prediction")),
        batch.column("confidence").cast(pa.string()),  # shortest text that reads back the same float
        *(_escaped(batch.column(name)) for name in LOG_SCHEMA.names[5:]),
    ]
    lines = pc.binary_join_element_wise(pc.binary_join_element_wise(*fields, "\t"), "\n", "")
    offsets = np.frombuffer(lines.buffers()[1], np.int32, len(lines) + 1, lines.offset * 4)
    return memoryview(lines.buffers()[2])[offsets[0] : offsets[-1]]


def _copy(cursor: Any, statement: str, chunks: Iterator[tuple[int, memoryview]], kept: IO[bytes]) -> int:
    """COPY the chunks, keeping each as it is sent; the number of rows sent."""
    rows = 0
    with cursor.copy(statement) as copy:
        for count, data in chunks:
            kept.write(data)
            copy.write(data)
            rows += count
    return rows


def _merged(cursor: Any, kept: IO[bytes]) -> int:
    """The kept COPY text through a temporary table, skipping stored request_ids; rows inserted."""
    kept.seek(0)
    cursor.execute(_STAGE)
    with cursor.copy(_STAGED) as copy:
        while data := kept.read(1 << 20):
            copy.write(data)
    cursor.execute(_MERGE)
    return cursor.rowcount


def write_postgres(session: Session, target_id: int, batches: Iterable[pa.RecordBatch]) -> int:
    """COPY the batches into the log table (module docstring); the number of rows stored."""
    cursor = session.connection().connection.driver_connection.cursor()
    chunks = ((batch.num_rows, copy_text(batch, target_id)) for batch in batches)
    with tempfile.SpooledTemporaryFile(max_size=KEEP_IN_MEMORY) as kept:
        cursor.execute("SAVEPOINT gk_bulk")
        try:
            return _copy(cursor, _DIRECT, chunks, kept)
        except UniqueViolation:
            for _, data in chunks:  # the rest of the body, read and checked all the same
                kept.write(data)
            cursor.execute("ROLLBACK TO SAVEPOINT gk_bulk")
        return _merged(cursor, kept)


# --- SQLite --------------------------------------------------------------------------------------


def _sqlite_rows(batch: pa.RecordBatch, target_id: int) -> Iterator[tuple]:
    """The batch's rows as SQLAlchemy stores them on SQLite: UTC wall time with microseconds, UUIDs as
    32 hex digits (features stay the JSON text sent; they read back as the same object)."""
    columns = dict(zip(batch.schema.names, batch.columns, strict=True))
    columns["ts"] = pc.strftime(columns["ts"].cast(pa.timestamp("us")), format="%Y-%m-%d %H:%M:%S")
    columns["candidate_id"] = pc.replace_substring(columns["candidate_id"], "-", "")
    values = [column.to_pylist() for column in columns.values()]
    return zip([target_id] * batch.num_rows, *values, strict=True)


def write_sqlite(session: Session, target_id: int, batches: Iterable[pa.RecordBatch]) -> int:
    """Insert the batches, skipping stored request_ids; the number of rows stored."""
    connection = session.connection().connection.driver_connection
    before = connection.total_changes
    for batch in batches:
        connection.executemany(_INSERT, _sqlite_rows(batch, target_id))
    return connection.total_changes - before
