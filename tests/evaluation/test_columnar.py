"""The predict-once cache's columns: what is stored is what comes back, a changed blob is refused, and
nothing in a blob is ever unpickled."""

from __future__ import annotations

import io

import numpy as np
import pytest
from sqlalchemy import select, update

from gatekeeper.errors import ValidationFailed
from gatekeeper.evaluation import cache, columnar
from gatekeeper.evaluation.models import PredictionSet
from gatekeeper.evaluation.predictions import Predictions, TopK, from_probabilities
from gatekeeper.evaluation.submitted import parse_submitted

LABELS = ["faq", "escalation", "order_tracking"]


def submitted() -> Predictions:
    lines = [
        b'{"id": "a", "prediction": "faq", "probabilities": {"faq": 0.6, "escalation": 0.4}, '
        b'"latency_ms": 3}',
        b'{"id": "b", "prediction": "escalation", "probabilities": {"escalation": 0.5, "faq": 0.3, '
        b'"order_tracking": 0.2}}',
    ]
    return parse_submitted(b"\n".join(lines), task="classification", expected_ids={"a", "b"}, labels=LABELS)


def same(a: Predictions, b: Predictions) -> None:
    assert (a.ids, a.output, a.confidence, a.latency_ms) == (b.ids, b.output, b.confidence, b.latency_ms)
    assert list(a.topk) == list(b.topk)


@pytest.mark.parametrize(
    "preds",
    [
        submitted(),
        from_probabilities(["x", "y"], np.array([[0.1, 0.7, 0.2], [0.5, 0.25, 0.25]]), LABELS),
        Predictions(["q1", "q2"], [{"d1": 0.25, "d2": 1 / 3}, {}], latency_ms=[None, 2.5]),
        Predictions(["g"], [{"output": "ありがとう", "tool_calls": [{"name": "search", "args": {"k": 1}}]}]),
        Predictions([], []),
    ],
    ids=["submitted", "artifact", "ranking", "generation", "empty"],
)
def test_what_is_stored_comes_back(preds: Predictions) -> None:
    back = columnar.decode(columnar.encode(preds))
    same(back, preds)
    for ident in preds.ids:
        assert back.view(ident) == preds.view(ident)


def test_no_object_arrays_and_a_pickled_blob_is_refused() -> None:
    with np.load(io.BytesIO(columnar.encode(submitted())), allow_pickle=False) as npz:
        assert all(npz[name].dtype != object for name in npz.files)
    evil = io.BytesIO()
    np.savez(evil, ids=np.array([{"__reduce__": "anything"}], dtype=object), vocab=np.zeros(0, np.uint8))
    with pytest.raises(ValueError, match="allow_pickle"):
        columnar.decode(evil.getvalue())


def test_topk_tables_join_across_vocabularies() -> None:
    first = TopK(np.array([[0, 1]], np.int32), np.array([[0.9, 0.1]]), ("faq", "escalation"))
    second = TopK(np.array([[1, -1]], np.int32), np.array([[1.0, np.nan]]), ("chitchat", "faq"))
    merged = Predictions.merge(
        [Predictions(["a"], ["faq"], [0.9], first), Predictions(["b"], ["faq"], [1.0], second)]
    )
    assert isinstance(merged.topk, TopK)
    assert list(merged.topk) == [[("faq", 0.9), ("escalation", 0.1)], [("faq", 1.0)]]
    assert merged.subset(["b"]).topk == [[("faq", 1.0)]]


def test_the_cache_round_trips_and_refuses_a_changed_row(db) -> None:  # noqa: ANN001
    preds = submitted()
    cache.store(db, "s" * 64, "f" * 64, "golden.jsonl", preds=preds)
    cache.store(db, "s" * 64, "f" * 64, "golden.jsonl", preds=preds)  # a second writer: kept as it was
    same(cache.cached(db, "s" * 64, ["f" * 64, "g" * 64])["f" * 64], preds)
    with db.transaction() as session:
        row = session.scalar(select(PredictionSet))
        assert row.payload is None and row.arrays_sha256 == columnar.sha256(row.arrays)
        changed = bytearray(row.arrays)
        changed[-100] ^= 1
        session.execute(update(PredictionSet).values(arrays=bytes(changed)))
    with pytest.raises(ValidationFailed, match="changed since they were stored") as refused:
        cache.cached(db, "s" * 64, ["f" * 64])
    assert refused.value.fields["field"] == "prediction_cache"


def test_rows_cached_as_json_before_still_read(db) -> None:  # noqa: ANN001
    preds = Predictions(
        ["a", "b"], ["faq", "escalation"], [0.6, 0.5], [[("faq", 0.6)], [("escalation", 0.5)]]
    )
    with db.transaction() as session:
        session.add(
            PredictionSet(
                source_sha256="o" * 64, file_sha256="f" * 64, file_name="g", payload=preds.to_payload()
            )
        )
    same(cache.cached(db, "o" * 64, ["f" * 64])["f" * 64], preds)
