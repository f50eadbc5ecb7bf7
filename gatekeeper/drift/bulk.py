"""Bulk prediction logs: a JSONL body, one served prediction a line, stored in one transaction.

The body is spooled as it arrives (never held whole), then read back in blocks of whole lines. Each line
is decoded and checked by msgspec against ``LogRow`` (the limits of ``PredictionLogIn``, checked in C,
not per field in Python); candidate ids are checked once per block as a set. The first bad line refuses
the batch with a 422 naming its line number (from 1) and field, and the transaction rolls back, so
nothing of the batch is kept.

A request_id already stored, or repeated in the batch (the first line wins), is ignored, as on the JSON
route. Postgres gets the checked lines as they are by ``COPY`` into a temporary table, and one
``INSERT ... SELECT`` parses them server-side into the log table; SQLite gets an ``executemany``.
"""

from __future__ import annotations

import re
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Annotated

import msgspec
from msgspec import Meta
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from gatekeeper.db import is_postgres
from gatekeeper.drift import ingest
from gatekeeper.drift.schemas import FEATURES_MAX, NAME_MAX, REQUEST_ID_MAX, SLICE_MAX, TEXT_MAX, IngestRead
from gatekeeper.errors import TooLarge, ValidationFailed
from gatekeeper.registry import audit
from gatekeeper.registry import service as registry
from gatekeeper.registry.models import Candidate

BLOCK = 1 << 20  # bytes of whole lines checked and written at a time
SPOOL_IN_MEMORY = 16 << 20  # a body up to this size is spooled in memory, a larger one on disk
MEDIA_TYPE = "application/x-ndjson"

Slice = Annotated[str, Meta(min_length=1, max_length=SLICE_MAX)] | None
FeatureValue = float | int | str | bool | None


class LogRow(msgspec.Struct, forbid_unknown_fields=True):
    """One line: ``PredictionLogIn``'s fields and limits (``drift/schemas.py`` holds the numbers)."""

    ts: Annotated[datetime, Meta(tz=True)]
    request_id: Annotated[str, Meta(min_length=1, max_length=REQUEST_ID_MAX)]
    candidate_id: uuid.UUID
    prediction: Annotated[str, Meta(min_length=1, max_length=NAME_MAX)]
    confidence: Annotated[float, Meta(ge=0.0, le=1.0)]
    features: Annotated[dict[str, FeatureValue], Meta(max_length=FEATURES_MAX)] = {}
    lang: Slice = None
    cohort: Slice = None
    device: Slice = None
    catalog_tier: Slice = None
    time_bucket: Slice = None
    text: Annotated[str, Meta(max_length=TEXT_MAX)] | None = None


_DECODE = msgspec.json.Decoder(LogRow).decode
_AT = re.compile(r"^(.*) - at `\$\.?([A-Za-z_]\w*)")
_NAMED = re.compile(r"field `([^`]*)`")


# --- receiving ---------------------------------------------------------------------------------


async def spool(chunks: AsyncIterator[bytes], limit: int) -> IO[bytes]:
    """The body, spooled to memory (then disk); 413 once it passes ``limit`` bytes."""
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 - the caller closes it
    received = 0
    async for chunk in chunks:
        received += len(chunk)
        if received > limit:
            out.close()
            raise TooLarge(f"body exceeds the {limit} byte limit", field="body", limit_bytes=limit)
        out.write(chunk)
    out.seek(0)
    return out


def blocks(source: IO[bytes]) -> Iterator[tuple[int, list[bytes]]]:
    """(number of the first line, the lines) for each block of whole lines. A raw CR can only be
    whitespace between JSON tokens, so it becomes a space (COPY would take it for a line end)."""
    number, rest = 1, b""
    while chunk := source.read(BLOCK):
        lines = (rest + chunk).replace(b"\r", b" ").split(b"\n")
        rest = lines.pop()
        yield number, lines
        number += len(lines)
    if rest:
        yield number, [rest]


# --- checking ------------------------------------------------------------------------------------


def refused(line: int, field: str, msg: str) -> ValidationFailed:
    return ValidationFailed(
        f"line {line}: {field}: {msg}; nothing was stored",
        line=line,
        field=field,
        errors=[{"line": line, "field": field, "msg": msg}],
    )


def _described(exc: msgspec.MsgspecError) -> tuple[str, str]:
    """(field, message) from msgspec's error: ``... - at `$.confidence``` or ``... field `x```."""
    message = str(exc)
    if not isinstance(exc, msgspec.ValidationError):  # a ValidationError is also a DecodeError
        return "line", f"not valid JSON: {message}"
    if at := _AT.match(message):
        return at.group(2), at.group(1)
    named = _NAMED.search(message)
    return (named.group(1) if named else "line"), message


def _decoded(number: int, line: bytes) -> LogRow:
    try:
        row = _DECODE(line)
    except msgspec.MsgspecError as exc:
        raise refused(number, *_described(exc)) from None
    if b"\\u0000" in line:  # valid JSON, but no text column can hold a NUL character
        for name in LogRow.__struct_fields__:
            value = getattr(row, name)
            if isinstance(value, str) and "\x00" in value:
                raise refused(number, name, "a NUL character (\\u0000) is not allowed")
    return row


@dataclass
class Batch:
    """What the checks carry from block to block."""

    target_id: int
    target: str
    candidates: set[uuid.UUID]
    seen: set[str] = field(default_factory=set)
    received: int = 0


def checked(batch: Batch, first: int, lines: list[bytes]) -> tuple[list[LogRow], list[bytes]]:
    """The block's new rows and their raw lines (blank lines skipped, a repeated request_id dropped);
    a bad line raises the 422."""
    rows, kept = [], []
    for number, line in enumerate(lines, first):
        if not line.strip():
            continue
        row = _decoded(number, line)
        if row.candidate_id not in batch.candidates:
            raise refused(number, "candidate_id", f"{row.candidate_id} is not a candidate of {batch.target}")
        batch.received += 1
        if row.request_id not in batch.seen:
            batch.seen.add(row.request_id)
            rows.append(row)
            kept.append(line)
    return rows, kept


# --- writing -------------------------------------------------------------------------------------

_COLUMNS = (
    "target_id, request_id, ts, candidate_id, prediction, confidence, lang, cohort, device, "
    "catalog_tier, time_bucket, text, features"
)
# Each line is one CSV field: JSON holds no raw control character, so \x01 and \x02 never occur in it.
_COPY = "COPY gk_bulk_lines (line) FROM STDIN WITH (FORMAT csv, DELIMITER E'\\x02', QUOTE E'\\x01')"
# The lines as the log table's columns (casts as the JSON route's model makes them), new request_ids
# only; labels that came before their log get its served prediction.
_MOVE = f"""
WITH new AS (
    INSERT INTO drift_prediction_logs ({_COLUMNS})
    SELECT %(target_id)s, r.request_id, r.ts, r.candidate_id, r.prediction, r.confidence, r.lang, r.cohort,
           r.device, r.catalog_tier, r.time_bucket, r.text, NULLIF(r.features, '{{}}'::jsonb)
    FROM gk_bulk_lines, json_to_record(line::json) AS r(
        request_id text, ts timestamptz, candidate_id uuid, prediction text, confidence float8, lang text,
        cohort text, device text, catalog_tier text, time_bucket text, text text, features jsonb)
    ON CONFLICT (target_id, request_id) DO NOTHING
    RETURNING request_id, prediction, candidate_id
), backfilled AS (
    UPDATE drift_labels AS l SET prediction = new.prediction, candidate_id = new.candidate_id
    FROM new WHERE l.target_id = %(target_id)s AND l.request_id = new.request_id AND l.prediction IS NULL
    RETURNING 1
)
SELECT (SELECT count(*) FROM new), (SELECT count(*) FROM backfilled)
"""


def _write_postgres(session: Session, batch: Batch, source: IO[bytes]) -> int:
    """COPY the checked lines as they came, then move them into the log table in one statement."""
    cursor = session.connection().connection.driver_connection.cursor()
    cursor.execute("CREATE TEMP TABLE gk_bulk_lines (line text) ON COMMIT DROP")
    with cursor.copy(_COPY) as copy:
        for first, lines in blocks(source):
            _, kept = checked(batch, first, lines)
            if kept:
                copy.write(b"\n".join(kept) + b"\n")
    cursor.execute(_MOVE, {"target_id": batch.target_id})
    accepted, _ = cursor.fetchone()
    return accepted


def _write_sqlite(session: Session, batch: Batch, source: IO[bytes]) -> int:
    """Insert block by block through the JSON route's own statement and column values."""
    accepted = 0
    statement = ingest.insert_logs(session)
    for first, lines in blocks(source):
        rows, _ = checked(batch, first, lines)
        if not rows:
            continue
        before = session.scalar(text("SELECT total_changes()"))
        session.execute(statement, [ingest.log_values(batch.target_id, row) for row in rows])
        accepted += session.scalar(text("SELECT total_changes()")) - before
        ingest.backfill_labels(session, batch.target_id, [row.request_id for row in rows])
    return accepted


def ingest_bulk(session: Session, *, target_name: str, source: IO[bytes], actor: str) -> IngestRead:
    """Store a JSONL batch of served predictions, all of it or (on a bad line) none; audited."""
    target = registry.get_target(session, target_name)
    candidates = set(session.scalars(select(Candidate.id).where(Candidate.target_id == target.id)))
    batch = Batch(target.id, target.name, candidates)
    write = _write_postgres if is_postgres(session) else _write_sqlite
    accepted = write(session, batch, source)
    if batch.received == 0:
        raise ValidationFailed("the body holds no prediction log line; nothing was stored", field="body")
    result = IngestRead(received=batch.received, accepted=accepted, duplicates=batch.received - accepted)
    audit.record(session, actor, "prediction_logs.bulk", "target", target.name, after=result.model_dump())
    return result
