"""Bulk prediction logs (JSONL) on both engines: what is stored equals what the JSON route stores, a bad
line anywhere (even blocks after rows were written) refuses the whole batch naming its line and field,
and the typed client streams a batch."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from pydantic_core import to_json
from sqlalchemy import select

from gatekeeper.client import ApiError, Client
from gatekeeper.drift import bulk, bulk_jsonl, bulk_rows
from gatekeeper.drift.models import DriftLabel, PredictionLog
from gatekeeper.registry.models import AuditEvent
from tests.conftest import snapshot
from tests.drift.world import T0, count, labels_for, traffic

BULK = "/v1/targets/intent_classifier/prediction-logs/bulk"
JSON = "/v1/targets/intent_classifier/prediction-logs"
NDJSON = {"Content-Type": bulk.MEDIA_TYPE}


def jsonl(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(to_json(row) + b"\n" for row in rows)


def post_bulk(api, auth, body: bytes):  # noqa: ANN001, ANN201
    return api.post(BULK, content=body, headers={**auth("serving"), **NDJSON})


def edge_rows(candidate: uuid.UUID) -> list[dict[str, Any]]:
    """What a parser could store differently: offsets, every feature type, escapes, absent fields."""
    tokyo = timezone(timedelta(hours=9))
    base = {"candidate_id": str(candidate), "prediction": "faq", "confidence": 1}
    return [
        {**base, "request_id": "e0", "ts": T0.astimezone(tokyo).isoformat(), "features": {}},
        {**base, "request_id": "e1", "ts": "2030-01-07T00:00:00.123456Z", "lang": "ja", "text": 'é\n"\\ 巻'},
        {
            **base,
            "request_id": "e2",
            "ts": "2030-01-07T01:02:03-05:30",
            "confidence": 0.1,
            "features": {"i": 3, "f": 0.1, "s": "x", "b": True, "n": None, "big": 2**62},
        },
    ]


def stored(db, prefix: str) -> list[tuple]:  # noqa: ANN001
    columns = [c for c in PredictionLog.__table__.columns if c.name != "request_id"]
    with db.session() as session:
        rows = session.execute(
            select(PredictionLog.request_id, *columns)
            .where(PredictionLog.request_id.startswith(prefix))
            .order_by(PredictionLog.request_id)
        )
        return [(rid.removeprefix(prefix), *rest) for rid, *rest in rows]


def test_bulk_stores_what_the_json_route_stores(api, auth, db, champion) -> None:  # noqa: ANN001
    logs, truth = traffic(np.random.default_rng(7), start=T0, hours=1, per_hour=40, candidate_id=champion)
    rows = [{**r, "candidate_id": str(r["candidate_id"]), "ts": r["ts"].isoformat()} for r in logs]
    rows += edge_rows(champion)
    again = {**rows[3], "prediction": "escalation"}  # repeated in the batch: the first line wins
    for prefix in ("j-", "b-"):
        mine = [{**r, "request_id": prefix + r["request_id"]} for r in rows]
        early = labels_for(logs[:4], truth, timedelta(minutes=1))  # labels before their logs
        early = [
            {**x, "request_id": prefix + x["request_id"], "labelled_at": str(x["labelled_at"])} for x in early
        ]
        labelled = api.post("/v1/targets/intent_classifier/labels", json=early, headers=auth("serving"))
        assert labelled.status_code == 200, labelled.text
        first, batch = mine[:2], [*mine, {**again, "request_id": prefix + again["request_id"]}]
        if prefix == "j-":
            replies = [api.post(JSON, json=part, headers=auth("serving")) for part in (first, batch)]
        else:
            replies = [post_bulk(api, auth, jsonl(part)) for part in (first, batch)]
        assert all(r.status_code == 200 for r in replies), [r.text for r in replies]
        results = [r.json() for r in replies]
        assert results[1] == {"received": len(batch), "accepted": len(batch) - 3, "duplicates": 3}
    assert stored(db, "b-") == stored(db, "j-") and len(stored(db, "b-")) == len(rows)
    with db.session() as session:
        backfilled = session.scalars(select(DriftLabel).where(DriftLabel.request_id.startswith("b-")))
        assert {label.prediction for label in backfilled} == {r["prediction"] for r in logs[:4]}


def test_a_bulk_batch_is_audited(api, auth, db, champion) -> None:  # noqa: ANN001
    logs, _ = traffic(np.random.default_rng(1), start=T0, hours=1, per_hour=5, candidate_id=champion)
    assert post_bulk(api, auth, jsonl(logs)).status_code == 200
    with db.session() as session:
        event = session.scalar(select(AuditEvent).where(AuditEvent.action == "prediction_logs.bulk"))
    assert event.actor == "serving" and event.entity_id == "intent_classifier"
    assert event.after == {"received": 5, "accepted": 5, "duplicates": 0}


def bad_lines(candidate: uuid.UUID) -> list[tuple[bytes, str]]:
    good = {"ts": T0.isoformat(), "request_id": "bad", "candidate_id": str(candidate), "prediction": "faq"}
    good["confidence"] = 0.5
    return [
        (to_json({**good, "confidence": 1.5}), "confidence"),
        (to_json({k: v for k, v in good.items() if k != "ts"}), "ts"),
        (to_json({**good, "ts": "2030-01-07T00:00:00"}), "ts"),  # no offset
        (to_json({**good, "colour": "red"}), "colour"),
        (to_json({**good, "candidate_id": str(uuid.uuid4())}), "candidate_id"),
        (to_json({**good, "features": {"x": [1]}}), "features"),
        (to_json({**good, "features": {f"f{i}": i for i in range(101)}}), "features"),
        (to_json({**good, "text": "a\x00b"}), "text"),
        (to_json({**good, "lang": ""}), "lang"),
        (b'{"ts": "2030-01-07T00:00:00Z", "request_id": ', "line"),
        (b"[1, 2]", "line"),
    ]


@pytest.mark.parametrize("case", range(11))
def test_a_bad_line_refuses_the_batch_naming_its_line_and_field(api, auth, db, champion, case) -> None:  # noqa: ANN001
    logs, _ = traffic(np.random.default_rng(2), start=T0, hours=1, per_hour=3, candidate_id=champion)
    bad, field = bad_lines(champion)[case]
    body = jsonl(logs) + b"\n" + bad + b"\n" + jsonl(logs[:1])  # the bad line is line 5
    before = snapshot(db)
    refused = post_bulk(api, auth, body)
    assert refused.status_code == 422, refused.text
    reply = refused.json()
    assert (reply["line"], reply["field"]) == (5, field), reply
    assert reply["errors"] == [{"line": 5, "field": field, "msg": reply["errors"][0]["msg"]}]
    assert reply["detail"].startswith(f"line 5: {field}: ") and "nothing was stored" in reply["detail"]
    assert snapshot(db) == before


def test_a_bad_line_after_rows_were_written_keeps_nothing(api, auth, db, champion) -> None:  # noqa: ANN001
    """Blocks are written as they are checked; the bad line is blocks later, and the batch rolls back."""
    logs, _ = traffic(np.random.default_rng(3), start=T0, hours=8, per_hour=1500, candidate_id=champion)
    body = jsonl(logs)
    assert len(body) > 3 * bulk_jsonl.BLOCK
    bad = to_json({**logs[0], "request_id": "late", "confidence": -0.1})
    before = snapshot(db)
    refused = post_bulk(api, auth, body + bad + b"\n")
    assert refused.status_code == 422 and refused.json()["line"] == len(logs) + 1, refused.text
    assert snapshot(db) == before
    accepted = post_bulk(api, auth, body)
    assert accepted.json() == {"received": len(logs), "accepted": len(logs), "duplicates": 0}
    assert count(db, PredictionLog) == len(logs)


def test_an_empty_or_oversized_body_is_refused(api, auth, settings, champion) -> None:  # noqa: ANN001
    empty = post_bulk(api, auth, b"\n \n")
    assert empty.status_code == 422 and empty.json()["field"] == "body"
    settings.max_bulk_bytes = 100
    logs, _ = traffic(np.random.default_rng(4), start=T0, hours=1, per_hour=3, candidate_id=champion)
    assert post_bulk(api, auth, jsonl(logs)).status_code == 413
    unknown = api.post("/v1/targets/nope/prediction-logs/bulk", content=b"{}\n", headers=auth("serving"))
    assert unknown.status_code == 404


def test_the_typed_client_streams_a_batch(live_server, tokens, db, champion) -> None:  # noqa: ANN001
    logs, _ = traffic(np.random.default_rng(5), start=T0, hours=1, per_hour=50, candidate_id=champion)
    serving = Client(live_server.url, tokens["serving"])
    reply = serving.post_prediction_logs_bulk("intent_classifier", iter(logs))
    assert (reply.received, reply.accepted, reply.duplicates) == (50, 50, 0)
    with pytest.raises(ApiError) as refused:
        serving.post_prediction_logs_bulk(
            "intent_classifier", [{**logs[0], "request_id": "x", "confidence": 2}]
        )
    assert refused.value.status == 422 and refused.value.body["line"] == 1
    assert count(db, PredictionLog) == 50


# --- the Arrow IPC body --------------------------------------------------------------------------

ARROW = {"Content-Type": bulk.ARROW_MEDIA_TYPE}
FIELDS = (
    "ts",
    "request_id",
    "candidate_id",
    "prediction",
    "confidence",
    "features",
    "text",
    *bulk_rows.SLICES,
)


def arrow_table(rows: list[dict[str, Any]], **columns: pa.Array) -> pa.Table:
    """The rows as the columns a client would send: a field absent from a row is null, features are
    JSON text; ``columns`` replace or add whole columns."""
    data: dict[str, Any] = {name: [row.get(name) for row in rows] for name in FIELDS}
    data["ts"] = pa.array([datetime.fromisoformat(str(ts)) for ts in data["ts"]], pa.timestamp("us", "UTC"))
    data["candidate_id"] = [str(c) for c in data["candidate_id"]]
    data["features"] = [None if f is None else to_json(f).decode() for f in data["features"]]
    return pa.table({**data, **columns})


def ipc(table: pa.Table, rows_per_batch: int = 1000) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=rows_per_batch)
    return sink.getvalue().to_pybytes()


def post_arrow(api, auth, body: bytes):  # noqa: ANN001, ANN201
    return api.post(BULK, content=body, headers={**auth("serving"), **ARROW})


def test_an_arrow_body_stores_what_the_json_route_stores(api, auth, db, champion) -> None:  # noqa: ANN001
    """Any text, timestamp and number types a client may send; repeats and stored ids are skipped."""
    logs, _ = traffic(np.random.default_rng(8), start=T0, hours=1, per_hour=30, candidate_id=champion)
    rows = [{**r, "candidate_id": str(champion), "ts": r["ts"].isoformat()} for r in logs]
    rows += edge_rows(champion)
    for prefix in ("j-", "a-"):
        mine = [{**r, "request_id": prefix + r["request_id"]} for r in rows]
        again = {**mine[3], "prediction": "escalation"}  # repeated in the batch: the first row wins
        first, batch = mine[:2], [*mine, again]
        if prefix == "j-":
            replies = [api.post(JSON, json=part, headers=auth("serving")) for part in (first, batch)]
        else:
            tokyo = arrow_table(batch).column("ts").cast(pa.timestamp("ns", "Asia/Tokyo"))
            typed = arrow_table(
                batch,
                ts=tokyo,
                request_id=pa.array([r["request_id"] for r in batch], pa.large_string()),
                lang=pa.array([r.get("lang") for r in batch]).dictionary_encode(),
            )
            replies = [post_arrow(api, auth, ipc(arrow_table(first))), post_arrow(api, auth, ipc(typed, 7))]
        assert all(r.status_code == 200 for r in replies), [r.text for r in replies]
        assert replies[1].json() == {"received": len(batch), "accepted": len(batch) - 3, "duplicates": 3}
    assert stored(db, "a-") == stored(db, "j-") and len(stored(db, "a-")) == len(rows)


def bad_columns(rows: list[dict[str, Any]], at: int) -> list[tuple[dict[str, pa.Array], str]]:
    """Row ``at`` broken one way at a time: (columns to replace, the field the 422 names)."""

    good = arrow_table(rows)

    def column(name: str, value: Any) -> dict[str, pa.Array]:
        values = good.column(name).to_pylist()
        values[at] = value
        return {name: pa.array(values, good.schema.field(name).type)}

    ts = good.column("ts").cast(pa.int64()).to_pylist()
    ts[at] = -(10**17)  # about 1200 BC: no datetime holds it
    return [
        (column("confidence", 1.5), "confidence"),
        (column("confidence", float("nan")), "confidence"),
        (column("request_id", None), "request_id"),
        (column("prediction", ""), "prediction"),
        (column("lang", ""), "lang"),
        (column("text", "a\x00b"), "text"),
        (column("candidate_id", str(uuid.uuid4())), "candidate_id"),
        (column("candidate_id", "not a uuid"), "candidate_id"),
        (column("features", '{"x": [1]}'), "features"),
        (column("features", "{not json"), "features"),
        (column("features", '{"s": "a\\u0000"}'), "features"),
        ({"ts": pa.array(ts, pa.int64()).cast(pa.timestamp("us", "UTC"))}, "ts"),
    ]


@pytest.mark.parametrize("case", range(12))
def test_a_bad_arrow_row_refuses_the_batch_naming_its_row_and_field(api, auth, db, champion, case) -> None:  # noqa: ANN001
    """Row 4 sits in the second record batch of three rows: the first was already written."""
    logs, _ = traffic(np.random.default_rng(9), start=T0, hours=1, per_hour=7, candidate_id=champion)
    columns, field = bad_columns(logs, 4)[case]
    before = snapshot(db)
    refused = post_arrow(api, auth, ipc(arrow_table(logs, **columns), 3))
    assert refused.status_code == 422, refused.text
    reply = refused.json()
    assert (reply["row"], reply["field"]) == (4, field), reply
    assert reply["errors"] == [{"row": 4, "field": field, "msg": reply["errors"][0]["msg"]}]
    assert reply["detail"].startswith(f"row 4: {field}: ") and "nothing was stored" in reply["detail"]
    assert snapshot(db) == before


def test_a_stream_that_cannot_be_read_as_logs_is_refused_at_row_0(api, auth, db, champion) -> None:  # noqa: ANN001
    logs, _ = traffic(np.random.default_rng(10), start=T0, hours=1, per_hour=3, candidate_id=champion)
    table = arrow_table(logs)
    cases = [
        (ipc(table.set_column(0, "ts", table.column("ts").cast(pa.timestamp("us")))), "ts"),  # no zone
        (ipc(table.drop_columns(["request_id"])), "request_id"),
        (ipc(table.append_column("colour", pa.array(["red"] * 3))), "colour"),
        (ipc(table.set_column(4, "confidence", table.column("confidence").cast(pa.string()))), "confidence"),
        (b"not an arrow stream", "body"),
        (ipc(table)[:-100], "body"),  # cut short
    ]
    before = snapshot(db)
    for body, field in cases:
        refused = post_arrow(api, auth, body)
        assert refused.status_code == 422, refused.text
        assert (refused.json()["row"], refused.json()["field"]) == (0, field), refused.json()
    assert snapshot(db) == before


def test_the_typed_client_sends_arrow(live_server, tokens, db, champion, tmp_path) -> None:  # noqa: ANN001
    logs, _ = traffic(np.random.default_rng(11), start=T0, hours=1, per_hour=40, candidate_id=champion)
    serving = Client(live_server.url, tokens["serving"])
    reply = serving.post_prediction_logs_bulk("intent_classifier", arrow_table(logs[:30]))
    assert (reply.received, reply.accepted, reply.duplicates) == (30, 30, 0)
    stream = tmp_path / "logs.arrows"
    stream.write_bytes(ipc(arrow_table(logs[20:]), 4))
    reply = serving.post_prediction_logs_bulk("intent_classifier", stream)
    assert (reply.received, reply.accepted, reply.duplicates) == (20, 10, 10)
    with pytest.raises(ApiError) as refused:
        serving.post_prediction_logs_bulk("intent_classifier", arrow_table([{**logs[0], "confidence": 2}]))
    assert refused.value.status == 422 and refused.value.body["row"] == 0
    assert count(db, PredictionLog) == 40


# --- JSONL: a line is one row, however a block decodes ---------------------------------------------


def test_a_block_decoded_whole_still_reads_one_row_a_line(api, auth, db, champion) -> None:  # noqa: ANN001
    """Two rows on line 2 and one row over lines 3-4: joined by commas, the five lines would decode to
    five rows. The body is still refused at line 2, as read line by line. CRLF and blank lines are fine."""
    logs, _ = traffic(np.random.default_rng(12), start=T0, hours=1, per_hour=5, candidate_id=champion)
    line = [to_json(row) for row in logs]
    keys = list(logs[3])
    front = to_json({k: logs[3][k] for k in keys[:2]})[:-1]  # '{"ts": ..., "request_id": ...'
    back = to_json({k: logs[3][k] for k in keys[2:]})[1:]  # '"candidate_id": ...}'
    body = b"\n".join([line[0], line[1] + b"," + line[2], front, back, line[4]]) + b"\n"
    before = snapshot(db)
    refused = post_bulk(api, auth, body)
    assert refused.status_code == 422 and (refused.json()["line"], refused.json()["field"]) == (2, "line")
    assert snapshot(db) == before
    accepted = post_bulk(api, auth, b"\r\n".join(line[:2]) + b"\r\n\r\n  \n" + b"\n".join(line[2:]))
    assert accepted.json() == {"received": 5, "accepted": 5, "duplicates": 0}, accepted.text


def test_a_stored_id_at_the_start_of_a_long_batch_is_skipped(api, auth, db, champion) -> None:  # noqa: ANN001
    """On Postgres the first COPY fails at once and blocks keep coming; the retry skips the stored id."""
    logs, _ = traffic(np.random.default_rng(13), start=T0, hours=4, per_hour=1500, candidate_id=champion)
    assert post_bulk(api, auth, jsonl(logs[:1])).json()["accepted"] == 1
    body = jsonl(logs)
    assert len(body) > 2 * bulk_jsonl.BLOCK
    reply = post_bulk(api, auth, body)
    assert reply.json() == {"received": len(logs), "accepted": len(logs) - 1, "duplicates": 1}, reply.text
    assert count(db, PredictionLog) == len(logs)
