"""The column-wise rules of bulk prediction logs (``bulk_rows.checked``), by hand: which row is named
first, what each rule lets through, and what a checked batch looks like."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest

from gatekeeper.drift import bulk_rows
from gatekeeper.drift.bulk_rows import LOG_SCHEMA, BadRow, checked
from gatekeeper.drift.schemas import FEATURES_MAX, SLICE_MAX, TEXT_MAX

CANDIDATE = uuid.UUID("0b7f3e7c-5d2a-4c1e-9f00-1234567890ab")
KNOWN = {CANDIDATE: str(CANDIDATE)}


def batch(n: int = 3, **changes: dict[int, Any]) -> pa.RecordBatch:
    """n good rows; ``changes`` sets {row: value} in a column."""
    columns: dict[str, list[Any]] = {
        "request_id": [f"r{i}" for i in range(n)],
        "ts": [datetime(2030, 1, 7, tzinfo=UTC)] * n,
        "candidate_id": [str(CANDIDATE)] * n,
        "prediction": ["faq"] * n,
        "confidence": [0.5] * n,
        **{name: [None] * n for name in LOG_SCHEMA.names[5:]},
    }
    for name, values in changes.items():
        for row, value in values.items():
            columns[name][row] = value
    return pa.RecordBatch.from_arrays(
        [pa.array(columns[f.name], f.type) for f in LOG_SCHEMA], schema=LOG_SCHEMA
    )


def first_bad(rows: pa.RecordBatch) -> tuple[int, str]:
    with pytest.raises(BadRow) as bad:
        checked(rows, KNOWN, "intent_classifier")
    return bad.value.index, bad.value.field


def test_a_good_batch_comes_back_with_canonical_ids_and_empty_features_null() -> None:
    rows = batch(
        candidate_id={0: str(CANDIDATE).upper(), 1: CANDIDATE.hex},
        features={0: "{}", 1: ' {"a": 1, "b": "x", "c": null, "d": true} '},
        text={2: ""},
    )
    out = checked(rows, KNOWN, "intent_classifier")
    assert out.schema == LOG_SCHEMA
    assert out.column("candidate_id").to_pylist() == [str(CANDIDATE)] * 3
    assert out.column("features").to_pylist() == [None, ' {"a": 1, "b": "x", "c": null, "d": true} ', None]
    assert out.column("text").to_pylist() == [None, None, ""]  # an empty text is a text


def test_the_earliest_row_is_named_whatever_the_rule() -> None:
    """A lookup rule (candidate) on row 1 comes before a column rule (confidence) on row 2."""
    rows = batch(candidate_id={1: str(uuid.uuid4())}, confidence={2: 1.5}, features={2: "[1]"})
    assert first_bad(rows) == (1, "candidate_id")
    assert first_bad(batch(confidence={2: 1.5}, features={1: "[1]"})) == (1, "features")


def test_on_one_row_the_field_first_in_the_schema_is_named() -> None:
    rows = batch(features={1: "nope"}, lang={1: ""}, prediction={1: ""}, candidate_id={1: "x"})
    assert first_bad(rows) == (1, "candidate_id")
    assert first_bad(batch(features={1: "nope"}, lang={1: ""})) == (1, "lang")


@pytest.mark.parametrize(
    ("column", "value", "good"),
    [
        ("confidence", 0.0, True),
        ("confidence", 1.0, True),
        ("confidence", -1e-9, False),
        ("confidence", float("nan"), False),
        ("confidence", float("inf"), False),
        ("confidence", None, False),
        ("request_id", "x" * 200, True),
        ("request_id", "x" * 201, False),
        ("request_id", "", False),
        ("lang", "巻" * SLICE_MAX, True),  # characters, not bytes
        ("lang", "x" * (SLICE_MAX + 1), False),
        ("text", "巻" * TEXT_MAX, True),
        ("text", "x" * (TEXT_MAX + 1), False),
        ("prediction", "a\x00", False),
        ("features", "{" + ",".join(f'"f{i}": {i}' for i in range(FEATURES_MAX)) + "}", True),
        ("features", "{" + ",".join(f'"f{i}": {i}' for i in range(FEATURES_MAX + 1)) + "}", False),
        ("features", '{"a": {"b": 1}}', False),
        ("features", "null", False),
        ("features", '{"a": 1}, {"b": 2}', False),  # two objects: joined, the batch would still decode
        ("features", '{"a": 1', False),
        ("features", '{"a": "\\u0000"}', False),
        ("features", b'{"a": "\xff"}', False),  # not UTF-8
        ("ts", None, False),
    ],
)
def test_each_rule_at_its_edge(column: str, value: Any, good: bool) -> None:
    if isinstance(value, bytes):
        rows = batch()
        features = pa.array([None, value, None], pa.binary())
        rows = rows.set_column(LOG_SCHEMA.get_field_index("features"), "features", features)
    else:
        rows = batch(**{column: {1: value}})
    if good:
        assert checked(rows, KNOWN, "intent_classifier").num_rows == 3
    else:
        assert first_bad(rows) == (1, column)


def test_features_decoded_together_still_read_one_object_a_row() -> None:
    """Joined by commas, rows 0 and 1 would read as one object and row 2 as two: three in all."""
    rows = batch(features={0: '{"a": 1', 1: '"b": 2}', 2: '{"c": 3}, {"d": 4}'})
    assert first_bad(rows) == (0, "features")
    assert first_bad(batch(features={1: '{"c": 3}, {"d": 4}', 2: "{}"})) == (1, "features")


def test_a_time_no_datetime_holds_is_refused() -> None:
    rows = batch()
    micros = pa.array([0, -(10**17), 0], pa.int64()).cast(bulk_rows.TS)
    assert first_bad(rows.set_column(1, "ts", micros)) == (1, "ts")
