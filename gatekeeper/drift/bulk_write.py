"""Writing checked bulk prediction logs: ``COPY`` on Postgres, one ``executemany`` a batch on SQLite.

On Postgres each record batch becomes ``COPY`` binary rows in a handful of numpy and Arrow calls (the
fixed-width fields packed as one numpy record a row, each text field a length and its bytes, joined
element-wise), never a Python call per row, and is sent while the next batch is read, so the server
inserts as Python decodes. Binary rows spare the server parsing timestamps, UUIDs and floats from text
(a fifth of its time per row). The rows go straight into the log table under a savepoint: nothing is
read first to learn whether a request_id is already stored. If one is, the table's key refuses the
``COPY``; the savepoint is rolled back and the same rows (kept as they were sent) go through a temporary
table and one ``INSERT ... ON CONFLICT DO NOTHING``, which skips the stored ids. Either way the caller's
transaction holds everything, so a later refusal still keeps nothing.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from psycopg.errors import UniqueViolation
from sqlalchemy.orm import Session

from gatekeeper.drift.bulk_rows import LOG_SCHEMA

FIXED = ("ts", "candidate_id", "confidence")  # after target_id; then the text fields
TEXTS = tuple(name for name in LOG_SCHEMA.names if name not in FIXED)
# COPY binary rows start with the fixed-width fields: one numpy record a row (lengths, then values).
_HEAD = np.dtype(
    [("fields", ">i2"), ("target_len", ">i4"), ("target_id", ">i4"), ("ts_len", ">i4"), ("ts", ">i8")]
    + [("candidate_len", ">i4"), ("candidate_id", "V16"), ("confidence_len", ">i4"), ("confidence", ">f8")]
)
_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # then no flags and no header extension
_TRAILER = b"\xff\xff"
_PG_EPOCH_US = int(datetime(2000, 1, 1, tzinfo=UTC).timestamp()) * 1_000_000
_JSONB_VERSION = b"\x01"

COPY_COLUMNS = ", ".join(("target_id", *FIXED, *TEXTS))
COLUMNS = ", ".join(("target_id", *LOG_SCHEMA.names))
_DIRECT = f"COPY drift_prediction_logs ({COPY_COLUMNS}) FROM STDIN (FORMAT binary)"
_STAGE = "CREATE TEMP TABLE gk_bulk_rows (LIKE drift_prediction_logs) ON COMMIT DROP"
_STAGED = f"COPY gk_bulk_rows ({COPY_COLUMNS}) FROM STDIN (FORMAT binary)"
_MERGE = (
    f"INSERT INTO drift_prediction_logs ({COLUMNS}) SELECT {COLUMNS} FROM gk_bulk_rows "
    "ON CONFLICT (target_id, request_id) DO NOTHING"
)
_INSERT = (
    f"INSERT INTO drift_prediction_logs ({COLUMNS}) VALUES ({', '.join('?' * len(COLUMNS.split(',')))}) "
    "ON CONFLICT (target_id, request_id) DO NOTHING"
)
KEEP_IN_MEMORY = 16 << 20  # bytes of COPY rows kept in memory for a retry, then on disk


# --- Postgres ------------------------------------------------------------------------------------


def _fixed_width(values: np.ndarray, width: int) -> pa.Array:
    """Each ``width`` bytes of ``values`` as one binary value (no copy)."""
    rows = len(values.view(np.uint8)) // width
    offsets = np.arange(0, (rows + 1) * width, width, dtype=np.int32)
    return pa.Array.from_buffers(pa.binary(), rows, [None, pa.py_buffer(offsets), pa.py_buffer(values)])


def _head(batch: pa.RecordBatch, target_id: int) -> pa.Array:
    """The fixed-width fields of each row, with the field count that opens a binary COPY row."""
    head = np.empty(batch.num_rows, _HEAD)
    head["fields"] = len(FIXED) + len(TEXTS) + 1
    head["target_len"], head["ts_len"], head["candidate_len"], head["confidence_len"] = 4, 8, 16, 8
    head["target_id"] = target_id
    head["ts"] = batch.column("ts").cast(pa.int64()).to_numpy() - _PG_EPOCH_US
    ids = pc.dictionary_encode(batch.column("candidate_id"))  # a few distinct candidates
    known = np.array([uuid.UUID(text).bytes for text in ids.dictionary.to_pylist()], "V16")
    head["candidate_id"] = known[ids.indices.to_numpy()] if len(known) else known
    head["confidence"] = batch.column("confidence").to_numpy()
    return _fixed_width(head, _HEAD.itemsize)


def _text(column: pa.Array, prefix: bytes = b"") -> tuple[pa.Array, pa.Array]:
    """(length, bytes) of a text field in binary COPY: -1 and nothing for null; ``prefix`` goes first."""
    lengths = pc.add(pc.binary_length(column), len(prefix)).fill_null(-1).to_numpy().astype(">i4")
    data = column.cast(pa.binary())
    if prefix:
        data = pc.binary_join_element_wise(prefix, data, b"")
    return _fixed_width(lengths, 4), data.fill_null(b"")


def copy_rows(batch: pa.RecordBatch, target_id: int) -> memoryview:
    """The batch as binary COPY rows for ``COPY_COLUMNS`` (no signature or trailer)."""
    parts = [_head(batch, target_id)]
    for name in TEXTS:
        parts += _text(batch.column(name), _JSONB_VERSION if name == "features" else b"")
    rows = pc.binary_join_element_wise(*parts, b"")
    offsets = np.frombuffer(rows.buffers()[1], np.int32, len(rows) + 1, rows.offset * 4)
    return memoryview(rows.buffers()[2])[offsets[0] : offsets[-1]]


def _copy(cursor: Any, statement: str, chunks: Iterator[tuple[int, memoryview]], kept: IO[bytes]) -> int:
    """COPY the chunks, keeping each as it is sent; the number of rows sent."""
    rows = 0
    with cursor.copy(statement) as copy:
        copy.write(_SIGNATURE)
        for count, data in chunks:
            kept.write(data)
            copy.write(data)
            rows += count
        copy.write(_TRAILER)
    return rows


def _merged(cursor: Any, kept: IO[bytes]) -> int:
    """The kept COPY text through a temporary table, skipping stored request_ids; rows inserted."""
    kept.seek(0)
    cursor.execute(_STAGE)
    with cursor.copy(_STAGED) as copy:
        copy.write(_SIGNATURE)
        while data := kept.read(1 << 20):
            copy.write(data)
        copy.write(_TRAILER)
    cursor.execute(_MERGE)
    return cursor.rowcount


def write_postgres(session: Session, target_id: int, batches: Iterable[pa.RecordBatch]) -> int:
    """COPY the batches into the log table (module docstring); the number of rows stored."""
    cursor = session.connection().connection.driver_connection.cursor()
    chunks = ((batch.num_rows, copy_rows(batch, target_id)) for batch in batches)
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
