"""Bulk prediction logs (JSONL) on both engines: what is stored equals what the JSON route stores, a bad
line anywhere (even blocks after rows were written) refuses the whole batch naming its line and field,
and the typed client streams a batch."""

from __future__ import annotations

import uuid
from datetime import timedelta, timezone
from typing import Any

import numpy as np
import pytest
from pydantic_core import to_json
from sqlalchemy import select

from gatekeeper.client import ApiError, Client
from gatekeeper.drift import bulk, bulk_jsonl
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
