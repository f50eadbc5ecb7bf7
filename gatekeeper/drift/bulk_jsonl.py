"""The JSONL body of the bulk route: blocks of whole lines, decoded by msgspec into Arrow columns.

A block is first decoded whole, as one JSON array (``b"[" + lines joined by "\\n," + b"]"``), which is
about five times cheaper than a call per line. That reading is only kept when it must equal the line by
line one: every line starts with ``{``, the array has exactly one element per line, and every row passes
the checks. A raw newline cannot sit inside a JSON string and a row holds no array or nested object, so
a joining comma always falls between two rows and each line is one row. Anything else (a blank line,
malformed JSON, a bad value) reads the block again line by line, which names the first bad line exactly.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import IO, Annotated

import msgspec
import pyarrow as pa
from msgspec import Meta

from gatekeeper.drift.bulk_rows import LOG_SCHEMA, SLICES, TS, BadRow, refused

BLOCK = 1 << 20  # bytes of whole lines decoded and checked at a time
Check = Callable[[pa.RecordBatch], pa.RecordBatch]


# One line's types (the values' rules are ``bulk_rows.checked``'s, the same for both bodies). ``features``
# stays raw JSON until it is checked; ``gc=False``: a row holds no reference cycle.
LogLine = msgspec.defstruct(
    "LogLine",
    [
        ("ts", Annotated[datetime, Meta(tz=True)]),
        *((name, str) for name in ("request_id", "candidate_id", "prediction")),
        ("confidence", float),
        ("features", msgspec.Raw, msgspec.Raw()),
        *((name, str | None, None) for name in (*SLICES, "text")),
    ],
    forbid_unknown_fields=True,
    gc=False,
)


_ONE = msgspec.json.Decoder(LogLine).decode
_MANY = msgspec.json.Decoder(list[LogLine]).decode
_AT = re.compile(r"^(.*) - at `\$\.?([A-Za-z_]\w*)")
_NAMED = re.compile(r"field `([^`]*)`")


def blocks(source: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    """(number of the first line, whole lines without the last newline) for each block."""
    number, rest = 1, b""
    while chunk := source.read(BLOCK):
        data = rest + chunk
        cut = data.rfind(b"\n")
        if cut < 0:
            rest = data
            continue
        block, rest = data[:cut], data[cut + 1 :]
        yield number, block
        number += block.count(b"\n") + 1
    if rest:
        yield number, rest


def _described(exc: msgspec.MsgspecError) -> tuple[str, str]:
    """(field, message) from msgspec's error: ``... - at `$.confidence``` or ``... field `x```."""
    message = str(exc)
    if not isinstance(exc, msgspec.ValidationError):  # a ValidationError is also a DecodeError
        return "line", f"not valid JSON: {message}"
    if at := _AT.match(message):
        return at.group(2), at.group(1)
    named = _NAMED.search(message)
    return (named.group(1) if named else "line"), message


def to_batch(rows: list[LogLine]) -> pa.RecordBatch:
    """The rows as ``LOG_SCHEMA`` columns (features as raw bytes until ``checked`` reads them)."""

    def column(name: str) -> list:
        return [getattr(row, name) for row in rows]

    arrays = [pa.array(column("request_id"), pa.string()), pa.array(column("ts"), TS)]
    arrays += [pa.array(column(name), pa.string()) for name in ("candidate_id", "prediction")]
    arrays.append(pa.array(column("confidence"), pa.float64()))
    arrays += [pa.array(column(name), pa.string()) for name in LOG_SCHEMA.names[5:-1]]
    arrays.append(pa.array([bytes(row.features) or None for row in rows], pa.binary()))
    return pa.RecordBatch.from_arrays(arrays, names=LOG_SCHEMA.names)


def _whole(block: bytes) -> list[LogLine] | None:
    """The block decoded as one array, when that reading is the line-by-line one (module docstring)."""
    lines = block.count(b"\n") + 1
    if block.count(b"\n{") + block.startswith(b"{") != lines:
        return None
    try:
        rows = _MANY(b"[" + block.replace(b"\n", b"\n,") + b"]")
    except msgspec.MsgspecError:
        return None
    return rows if len(rows) == lines else None


def _checked(rows: list[LogLine], numbers: list[int], check: Check) -> pa.RecordBatch:
    try:
        return check(to_batch(rows))
    except BadRow as bad:
        raise refused("line", numbers[bad.index], bad.field, bad.msg) from None


def _line_by_line(first: int, block: bytes, check: Check) -> pa.RecordBatch:
    """The block read one line at a time: the first bad line (in decoding or in the checks) refuses."""
    rows, numbers = [], []
    for number, line in enumerate(block.split(b"\n"), first):
        if not line.strip():
            continue
        try:
            rows.append(_ONE(line))
        except msgspec.MsgspecError as exc:
            _checked(rows, numbers, check)  # a bad value on an earlier line is named first
            raise refused("line", number, *_described(exc)) from None
        numbers.append(number)
    return _checked(rows, numbers, check)


def _at_once(block: bytes, check: Check) -> pa.RecordBatch | None:
    """The block decoded whole and checked, or None to read it line by line."""
    rows = _whole(block)
    try:
        return None if rows is None else check(to_batch(rows))
    except BadRow:
        return None  # read again line by line, to name the line exactly


def read(source: IO[bytes], check: Check) -> Iterator[pa.RecordBatch]:
    """Checked record batches of the JSONL body, block by block; a bad line raises the 422."""
    for first, block in blocks(source):
        batch = _at_once(block, check)
        if batch is None:
            batch = _line_by_line(first, block, check)
        if batch.num_rows:
            yield batch
