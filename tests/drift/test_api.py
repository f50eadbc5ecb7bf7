"""Drift hub over HTTP on both engines: ingestion refuses a bad batch naming the row and field and
writes nothing, duplicates are not double-counted, roles are enforced, results, events and the
Evidently report are readable, and an acknowledgement is audited."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import numpy as np
import pytest

from gatekeeper.clock import utcnow
from gatekeeper.drift import daemon
from tests.conftest import snapshot
from tests.drift.world import (
    HOUR,
    HOURLY,
    T0,
    labels_for,
    make_champion,
    synthetic_reference,
    traffic,
)

# Evidently's import pulls in numpy.core aliases and litestar, which warn about their own internals.
pytestmark = [
    pytest.mark.filterwarnings("ignore:numpy.core is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:Call to deprecated function 'Dependency':DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:Use of deprecated class 'DependencyKwarg':DeprecationWarning"),
]
LOGS = "/v1/targets/intent_classifier/prediction-logs"
LABELS = "/v1/targets/intent_classifier/labels"


def as_json(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        body = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}
        if "candidate_id" in body:
            body["candidate_id"] = str(body["candidate_id"])
        out.append(body)
    return out


@pytest.fixture
def champion(db, settings, target) -> uuid.UUID:  # noqa: ANN001 - the API's target fixture creates it
    cid = make_champion(db, settings)
    synthetic_reference(db, cid)
    return cid


@pytest.fixture
def batch(champion) -> tuple[list[dict[str, Any]], dict[str, str]]:  # noqa: ANN001
    logs, truth = traffic(np.random.default_rng(20), start=T0, hours=2, per_hour=120, candidate_id=champion)
    return as_json(logs), truth


BAD_ROWS = [
    (3, lambda r: r.update(confidence=1.5), "confidence"),
    (0, lambda r: r.pop("request_id"), "request_id"),
    (7, lambda r: r.update(ts="2030-01-07T10:00:00"), "ts"),  # no timezone
    (2, lambda r: r.update(confidnce=0.5), "confidnce"),  # a typo is not silently dropped
    (5, lambda r: r.update(features={"price": [1, 2]}), "features.price"),
    (9, lambda r: r.update(candidate_id=str(uuid.uuid4())), "candidate_id"),  # not this target's
]


def test_a_bad_row_refuses_the_batch_naming_row_and_field(api, auth, db, batch) -> None:
    before = snapshot(db)
    for row, mutate, field in BAD_ROWS:
        rows = [dict(r) for r in batch[0][:20]]
        mutate(rows[row])
        response = api.post(LOGS, json=rows, headers=auth("serving"))
        assert response.status_code == 422, (field, response.text)
        body = response.json()
        assert body["row"] == row and body["field"].startswith(field), (field, body)
        assert f"row {row}" in body["detail"] and "nothing was stored" in body["detail"]
    assert snapshot(db) == before


def test_batch_limits_and_shapes(api, auth, db, batch) -> None:
    before = snapshot(db)
    too_many = [batch[0][0]] * 10_001
    response = api.post(LOGS, json=too_many, headers=auth("serving"))
    assert response.status_code == 422 and response.json()["field"] == "body"
    assert api.post(LOGS, json={"rows": []}, headers=auth("serving")).status_code == 422
    assert api.post(LOGS, json=["not a row"], headers=auth("serving")).json()["row"] == 0
    assert (
        api.post("/v1/targets/nope/prediction-logs", json=batch[0][:2], headers=auth("serving")).status_code
        == 404
    )
    labels = [{"request_id": "x", "label": "faq", "labelled_at": "yesterday"}]
    bad = api.post(LABELS, json=labels, headers=auth("serving"))
    assert bad.status_code == 422 and (bad.json()["row"], bad.json()["field"]) == (0, "labelled_at")
    assert snapshot(db) == before


def test_duplicates_are_not_double_counted_over_http(api, auth, db, batch) -> None:
    rows, truth = batch
    first = api.post(LOGS, json=rows[:150], headers=auth("serving")).json()
    again = api.post(LOGS, json=rows[100:] + rows[:10], headers=auth("serving")).json()
    assert first == {"received": 150, "accepted": 150, "duplicates": 0}
    assert again == {"received": 150, "accepted": 90, "duplicates": 60}
    labels = as_json(labels_for([{**r, "ts": T0} for r in rows[:50]], truth, timedelta(hours=1)))
    stored = api.post(LABELS, json=labels, headers=auth("serving")).json()
    replaced = api.post(LABELS, json=labels[:10], headers=auth("serving")).json()
    assert stored == {"received": 50, "accepted": 50, "replaced": 0, "matched": 50}
    assert replaced == {"received": 10, "accepted": 0, "replaced": 10, "matched": 10}
    [result] = daemon.run_pass(db, api.app.state.settings, now=T0 + 2 * HOUR, cadence=HOURLY)
    assert result.windows == 4  # two hourly windows, input and prediction
    drift_view = api.get(
        "/v1/targets/intent_classifier/drift", params={"since": T0.isoformat()}, headers=auth("reviewer")
    ).json()
    assert [r["n"] for r in drift_view["history"]["input"]] == [120, 120]  # 240 rows, each counted once


@pytest.mark.parametrize(
    ("method", "path", "allowed", "refused"),
    [
        ("POST", LOGS, ["serving", "admin"], ["ci", "reviewer", "oncall"]),
        ("POST", LABELS, ["serving", "admin"], ["ci", "reviewer", "oncall"]),
    ],
)
def test_ingestion_needs_serving(api, auth, batch, method, path, allowed, refused) -> None:
    body = (
        batch[0][:1] if path == LOGS else [{"request_id": "r", "label": "faq", "labelled_at": T0.isoformat()}]
    )
    for role in refused:
        response = api.request(method, path, json=body, headers=auth(role))
        assert response.status_code == 403 and role in response.json()["detail"]
    for role in allowed:
        assert api.request(method, path, json=body, headers=auth(role)).status_code == 200
    assert api.post(LOGS, json=body).status_code == 401


def _drifted(api, auth, db, champion) -> dict[str, Any]:  # noqa: ANN001
    rng = np.random.default_rng(21)
    before, _ = traffic(rng, start=T0, hours=12, per_hour=120, candidate_id=champion, prefix="a")
    after, _ = traffic(
        rng,
        start=T0 + 12 * HOUR,
        hours=24,
        per_hour=120,
        candidate_id=champion,
        shift={"lang": [0.1, 0.8, 0.1]},
    )
    rows = as_json(before + after)
    for i in range(0, len(rows), 2000):
        assert api.post(LOGS, json=rows[i : i + 2000], headers=auth("serving")).status_code == 200
    [result] = daemon.run_pass(db, api.app.state.settings, now=T0 + 36 * HOUR, cadence=HOURLY)
    assert len(result.opened) == 1
    return {"event_id": result.opened[0]}


def test_results_events_and_the_report_are_readable(api, auth, db, settings, champion) -> None:
    event_id = _drifted(api, auth, db, champion)["event_id"]
    view = api.get(
        "/v1/targets/intent_classifier/drift", params={"since": T0.isoformat()}, headers=auth("reviewer")
    )
    assert view.status_code == 200, view.text
    data = view.json()
    assert (
        data["reference"]["candidate_id"] == str(champion) and data["reference"]["thresholds"]["psi"] == 0.2
    )
    assert "lang" in data["reference"]["features"] and "features.price" in data["reference"]["features"]
    assert [len(data["history"][k]) for k in ("input", "prediction", "label", "concept")] == [36, 36, 0, 0]
    latest = data["latest"]["input"]
    assert latest["breached"] and latest["figures"]["max_feature"] == "lang" and latest["report_path"] is None
    assert [e["id"] for e in data["events"]] == [event_id] and data["events"][0]["kind"] == "input"
    assert data["live"] is None

    report = api.get("/v1/targets/intent_classifier/drift/report", headers=auth("reviewer"))
    assert report.status_code == 200 and "text/html" in report.headers["content-type"]
    path = report.headers["x-report-path"]
    assert path.startswith(str(settings.report_dir / "drift" / "intent_classifier")) and "lang" in report.text
    again = api.get(
        "/v1/targets/intent_classifier/drift", params={"since": T0.isoformat()}, headers=auth("ci")
    ).json()
    assert again["latest"]["input"]["report_path"] == path  # the path is on the latest window's result
    assert again["history"]["input"][0]["report_path"] is None  # only the latest window gets one

    listed = api.get("/v1/targets/intent_classifier/drift/events", headers=auth("oncall")).json()
    one = api.get(f"/v1/drift-events/{event_id}", headers=auth("ci")).json()
    assert [e["id"] for e in listed] == [event_id] and one["action"] == "review" and one["ack"] is None
    assert api.get(f"/v1/drift-events/{uuid.uuid4()}", headers=auth("ci")).status_code == 404
    assert api.get("/v1/drift-events/not-a-uuid", headers=auth("ci")).status_code == 404


def test_acknowledgement_is_oncall_only_validated_and_audited(api, auth, db, champion) -> None:
    event_id = _drifted(api, auth, db, champion)["event_id"]
    ack = f"/v1/drift-events/{event_id}/ack"
    body = {
        "reason": "manga fair weekend",
        "seasonal": True,
        "until": (utcnow() + timedelta(days=3)).isoformat(),
    }
    assert api.post(ack, json=body, headers=auth("ci")).status_code == 403
    assert api.post(ack, json=body, headers=auth("reviewer")).status_code == 403
    past = api.post(ack, json={**body, "until": "2020-01-01T00:00:00Z"}, headers=auth("oncall"))
    assert past.status_code == 422 and past.json()["field"] == "until"
    not_seasonal = api.post(ack, json={**body, "seasonal": False}, headers=auth("oncall"))
    assert not_seasonal.status_code == 422 and not_seasonal.json()["field"] == "until"

    done = api.post(ack, json=body, headers=auth("oncall"))
    assert done.status_code == 200, done.text
    got = done.json()
    assert (got["status"], got["action"]) == ("acknowledged", "none")
    assert (
        got["ack"]["by"] == "oncall"
        and got["ack"]["seasonal"]
        and got["ack"]["reason"] == "manga fair weekend"
    )
    audit = api.get("/v1/audit", params={"entity": event_id}, headers=auth("reviewer")).json()
    assert [e["action"] for e in audit] == ["drift.event.ack", "drift.event.open"]
    assert audit[0]["actor"] == "oncall" and audit[0]["after"]["seasonal"] is True
