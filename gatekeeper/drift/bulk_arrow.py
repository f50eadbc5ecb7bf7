"""The Arrow IPC stream body of the bulk route: record batches cast to ``LOG_SCHEMA`` and checked.

Columns are matched by name and may come in any order. Text columns may be string, large string, string
view or dictionary-encoded text; ``ts`` a timestamp of any unit with a time zone (nanoseconds are cut to
microseconds, as Postgres keeps them); ``confidence`` any float or integer; ``features`` JSON text (or
binary), one object per row, null for none. Optional columns may be left out. Rows are numbered from 0
across the whole stream, as the JSON route numbers a batch's rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import IO

import pyarrow as pa

from gatekeeper.drift.bulk_rows import LOG_SCHEMA, REQUIRED, TS, BadRow, refused

SLICE_ROWS = 65_536  # rows checked and written at a time (a client's record batch may be any size)
Check = Callable[[pa.RecordBatch], pa.RecordBatch]


def _is_text(kind: pa.DataType) -> bool:
    if pa.types.is_dictionary(kind):
        return _is_text(kind.value_type)
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)


def _fits(name: str, kind: pa.DataType) -> str | None:
    """Why a column of this type cannot be read as the log's ``name``, or None."""
    if name == "ts":
        if not pa.types.is_timestamp(kind) or kind.tz is None:
            return f"a timestamp with a time zone, got {kind}"
    elif name == "confidence":
        if not (pa.types.is_floating(kind) or pa.types.is_integer(kind)):
            return f"a number, got {kind}"
    elif name == "features":
        if not (_is_text(kind) or pa.types.is_binary(kind) or pa.types.is_large_binary(kind)):
            return f"JSON text, got {kind}"
    elif not _is_text(kind):
        return f"text, got {kind}"
    return None


def plan(schema: pa.Schema) -> None:
    """Refuse (row 0: every row is bad) a stream whose columns cannot be read as prediction logs."""
    for field in schema:
        if field.name not in LOG_SCHEMA.names:
            raise refused("row", 0, field.name, "not a prediction log field")
        if why := _fits(field.name, field.type):
            raise refused("row", 0, field.name, why)
    for name in REQUIRED:
        if name not in schema.names:
            raise refused("row", 0, name, "required, and the stream has no such column")


def _cast(column: pa.Array, field: pa.Field) -> pa.Array:
    if field.name == "features" and not _is_text(column.type):
        return column.cast(pa.binary())  # JSON bytes: checked as they are decoded
    try:
        return column.cast(field.type, safe=field.type != TS)  # a timestamp's nanoseconds are cut
    except pa.ArrowInvalid as exc:  # e.g. an integer confidence past 2**53
        raise BadRow(0, field.name, f"cannot be read as {field.type}: {exc}") from None


def conformed(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The batch as ``LOG_SCHEMA``: columns in its order and types, absent ones null."""
    arrays = [
        _cast(batch.column(field.name), field)
        if field.name in batch.schema.names
        else pa.nulls(batch.num_rows, field.type)
        for field in LOG_SCHEMA
    ]
    return pa.RecordBatch.from_arrays(arrays, names=LOG_SCHEMA.names)


def _valid(batch: pa.RecordBatch, offset: int) -> None:
    """Refuse buffers that do not hold what their type says (text that is not UTF-8, bad offsets)."""
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        try:
            column.validate(full=True)
        except pa.ArrowInvalid as exc:
            raise refused("row", offset, name, f"not valid Arrow data in this batch: {exc}") from None


def _batches(source: IO[bytes]) -> Iterator[pa.RecordBatch]:
    """The stream's record batches; a stream that is not Arrow IPC, or breaks off, is refused."""
    offset = 0
    try:
        reader = pa.ipc.open_stream(source)
        plan(reader.schema)
        for batch in reader:
            _valid(batch, offset)
            yield batch
            offset += batch.num_rows
    except (pa.ArrowInvalid, OSError) as exc:
        raise refused("row", offset, "body", f"not a readable Arrow IPC stream: {exc}") from None


def read(source: IO[bytes], check: Check) -> Iterator[pa.RecordBatch]:
    """Checked record batches of the stream, at most SLICE_ROWS rows each; a bad row raises the 422."""
    offset = 0
    for batch in _batches(source):
        for start in range(0, batch.num_rows, SLICE_ROWS):
            part = batch.slice(start, SLICE_ROWS)
            try:
                yield check(conformed(part))
            except BadRow as bad:
                raise refused("row", offset + bad.index, bad.field, bad.msg) from None
            offset += part.num_rows
