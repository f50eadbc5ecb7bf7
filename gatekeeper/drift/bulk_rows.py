"""Bulk prediction logs as Arrow columns, and the rules every row must pass, checked column-wise.

Both bodies of the bulk route (JSONL and Arrow IPC) become record batches of ``LOG_SCHEMA``; ``checked``
applies ``PredictionLogIn``'s limits (the numbers live in ``drift/schemas.py``) to whole columns at once
and names the first bad row. Pure: Arrow arrays in, Arrow arrays (or ``BadRow``) out.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from msgspec import Meta

from gatekeeper.drift.schemas import (
    FEATURES_MAX,
    NAME_MAX,
    REQUEST_ID_MAX,
    SLICE_FIELDS,
    SLICE_MAX,
    TEXT_MAX,
    FeatureValue,
)
from gatekeeper.errors import ValidationFailed

SLICES = SLICE_FIELDS
TS = pa.timestamp("us", tz="UTC")
# The log table's columns after target_id, in its order: what every reader yields and every writer takes.
LOG_SCHEMA = pa.schema(
    [
        pa.field("request_id", pa.string()),
        pa.field("ts", TS),
        pa.field("candidate_id", pa.string()),
        pa.field("prediction", pa.string()),
        pa.field("confidence", pa.float64()),
        *(pa.field(name, pa.string()) for name in SLICES),
        pa.field("text", pa.string()),
        pa.field("features", pa.string()),
    ]
)
REQUIRED = ("request_id", "ts", "candidate_id", "prediction", "confidence")
# (required, fewest, most) characters of each text column.
LENGTHS: dict[str, tuple[bool, int, int]] = {
    "request_id": (True, 1, REQUEST_ID_MAX),
    "prediction": (True, 1, NAME_MAX),
    **{name: (False, 1, SLICE_MAX) for name in SLICES},
    "text": (False, 0, TEXT_MAX),
}
# datetime's range: what the JSON route (and a client's own datetimes) can hold.
TS_MIN, TS_MAX = (pa.scalar(moment, TS) for moment in (datetime.min, datetime.max))
Features = Annotated[dict[str, FeatureValue], Meta(max_length=FEATURES_MAX)]
_FEATURES = msgspec.json.Decoder(Features).decode
_MANY_FEATURES = msgspec.json.Decoder(list[Features]).decode


class BadRow(Exception):
    """The first row that breaks a rule: its index in the batch, the field and why."""

    def __init__(self, index: int, field: str, msg: str) -> None:
        super().__init__(f"{index}: {field}: {msg}")
        self.index, self.field, self.msg = index, field, msg

    def key(self) -> tuple[int, int]:
        """Earlier rows first; on one row, the field that comes first in the schema."""
        return self.index, LOG_SCHEMA.names.index(self.field)


def refused(unit: str, number: int, field: str, msg: str) -> ValidationFailed:
    """The 422 for a bad row: ``unit`` is ``line`` (JSONL, from 1) or ``row`` (Arrow, from 0)."""
    return ValidationFailed(
        f"{unit} {number}: {field}: {msg}; nothing was stored",
        **{unit: number},
        field=field,
        errors=[{unit: number, "field": field, "msg": msg}],
    )


def _first(mask: pa.Array) -> int | None:
    """Index of the first true value (a null counts as false)."""
    flags = pc.fill_null(mask, False).to_numpy(zero_copy_only=False)
    return int(flags.argmax()) if flags.any() else None


def _text_rule(column: pa.Array, required: bool, low: int, high: int) -> tuple[pa.Array, str]:
    length = pc.utf8_length(column)
    bad = pc.or_kleene(pc.less(length, low), pc.greater(length, high))
    bad = pc.or_kleene(bad, pc.match_substring(column, "\x00"))
    if required:
        bad = pc.or_kleene(pc.is_null(column), bad)
    return bad, f"{'required, ' if required else ''}{low} to {high} characters, no NUL character"


def _rules(batch: pa.RecordBatch) -> list[tuple[str, pa.Array, str]]:
    """(field, bad-row mask, what the rule is) for every rule that needs no lookup."""
    ts, confidence = batch.column("ts"), batch.column("confidence")
    in_range = pc.and_kleene(pc.greater_equal(confidence, 0.0), pc.less_equal(confidence, 1.0))
    ts_bad = pc.or_kleene(pc.is_null(ts), pc.or_kleene(pc.less(ts, TS_MIN), pc.greater(ts, TS_MAX)))
    rules = [
        ("ts", ts_bad, "required, a time between the years 1 and 9999"),
        ("confidence", pc.invert(pc.fill_null(in_range, False)), "required, a number from 0 to 1"),
        ("candidate_id", pc.is_null(batch.column("candidate_id")), "required"),
    ]
    for name, (required, low, high) in LENGTHS.items():
        rules.append((name, *_text_rule(batch.column(name), required, low, high)))
    return rules


def _first_broken(batch: pa.RecordBatch) -> BadRow | None:
    """The row that breaks a rule first (on one row, the first field in schema order)."""
    found = [BadRow(i, name, msg) for name, mask, msg in _rules(batch) if (i := _first(mask)) is not None]
    return min(found, key=BadRow.key, default=None)


def _candidate(value: str, candidates: Mapping[uuid.UUID, str], target: str) -> str | BadRow:
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return BadRow(0, "candidate_id", f"{value!r} is not a UUID")
    return candidates.get(parsed) or BadRow(0, "candidate_id", f"{parsed} is not a candidate of {target}")


def _candidates(column: pa.Array, candidates: Mapping[uuid.UUID, str], target: str) -> pa.Array:
    """The column in canonical form (each distinct value parsed once); the first row with an unknown
    candidate raises."""
    encoded = pc.dictionary_encode(column)
    answers = [_candidate(value, candidates, target) for value in encoded.dictionary.to_pylist()]
    bad = [i for i, answer in enumerate(answers) if isinstance(answer, BadRow)]
    if bad:
        index = _first(pc.is_in(encoded.indices, pa.array(bad, encoded.indices.type)))
        first = answers[encoded.indices[index].as_py()]
        raise BadRow(index, first.field, first.msg)
    return pc.take(pa.array(answers, pa.string()), encoded.indices)


def _at_once(present: pa.Array) -> list[dict] | None:
    """The non-null features decoded in one call, as the JSON array ``[v1\\n,v2\\n,...]``, or None to
    decode them one by one. That reading equals the one-by-one reading when every value starts with
    ``{`` and the array has one element per value: a raw newline cannot sit in a JSON string and a comma
    inside an object must be followed by a key, so every joining comma separates two values."""
    if not pc.all(pc.starts_with(present, "{")).as_py():
        return None
    joined = pc.binary_join_element_wise(present.cast(pa.binary()), b"\n,", b"")
    offsets = np.frombuffer(joined.buffers()[1], np.int32, len(joined) + 1, joined.offset * 4)
    data = memoryview(joined.buffers()[2])[offsets[0] : offsets[-1] - 2]
    try:
        rows = _MANY_FEATURES(b"[" + data + b"]")
    except msgspec.MsgspecError:
        return None
    return rows if len(rows) == len(present) else None


def _one_by_one(values: list[str | bytes | None]) -> list[dict | None]:
    """Each row's features decoded alone; the first bad row raises."""
    out = []
    for index, value in enumerate(values):
        try:
            out.append(None if value is None else _FEATURES(value))
        except msgspec.MsgspecError as exc:
            msg = f"a JSON object of at most {FEATURES_MAX} scalar values: {exc}"
            raise BadRow(index, "features", msg) from None
    return out


def _empty(column: pa.Array) -> np.ndarray:
    """Which rows have no features (null, or ``{}``); the first row whose features are not a JSON object
    of scalar values raises."""
    present = column.drop_null()
    decoded = _at_once(present) if len(present) else []
    if decoded is None:
        return np.array([not features for features in _one_by_one(column.to_pylist())], bool)
    empty = column.is_null().to_numpy(zero_copy_only=False).copy()
    empty[~empty] = [not features for features in decoded]
    return empty


def _features(column: pa.Array) -> pa.Array:
    """The features column as JSON text, null where a row has none (``{}`` is stored as null, as on the
    JSON route); the first row whose features are not a JSON object of scalar values raises."""
    empty = _empty(column)
    nul = _first(pc.match_substring(column, "\\u0000"))
    if nul is not None:
        raise BadRow(nul, "features", "a NUL character (\\u0000) is not allowed")
    text = column.cast(pa.string())  # valid UTF-8 once decoded: the strings were checked, the rest is ASCII
    return pc.if_else(pa.array(empty, pa.bool_()), pa.scalar(None, pa.string()), text)


def checked(batch: pa.RecordBatch, candidates: Mapping[uuid.UUID, str], target: str) -> pa.RecordBatch:
    """The batch with candidate ids canonical and empty features null, if every row passes every rule;
    else ``BadRow`` for the first bad row. ``candidates``: the target's ids and their canonical text."""
    found = [bad] if (bad := _first_broken(batch)) else []
    columns = dict(zip(batch.schema.names, batch.columns, strict=True))
    lookups = {"candidate_id": lambda ids: _candidates(ids, candidates, target), "features": _features}
    for name, lookup in lookups.items():
        try:
            columns[name] = lookup(columns[name])
        except BadRow as late:
            found.append(late)
    if found:
        raise min(found, key=BadRow.key)
    return pa.RecordBatch.from_arrays(list(columns.values()), schema=LOG_SCHEMA)
