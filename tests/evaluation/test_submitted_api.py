"""POST of a submitted-predictions evaluation: a bad file is a 422 naming its line and field and changes
nothing; a good one is checked and cached as columns in the request, so the worker reads it no more."""

from __future__ import annotations

import hashlib
import json

from sqlalchemy import func, select

from gatekeeper.config import PROJECT_ROOT
from gatekeeper.evaluation import evalset as evalsets
from gatekeeper.evaluation.models import PredictionSet
from gatekeeper.jobs.handlers import install
from gatekeeper.jobs.worker import Worker
from tests.conftest import snapshot

EVALSET = PROJECT_ROOT / "evalsets" / "intent_classifier"


def lines() -> list[dict]:
    """Every example of the shipped intent evalset, answered with its own label (or the served one)."""
    loaded = evalsets.load(EVALSET)
    out = []
    for f in loaded.files.values():
        for row in f.rows:
            label = row.get("label") or row["served_label"]
            out.append({"id": row["id"], "prediction": label, "probabilities": {label: 1.0}, "latency_ms": 5})
    return out


def submit(api, auth, settings, candidate_id: str, name: str, rows: list[dict]):  # noqa: ANN001, ANN201
    data = "".join(json.dumps(r) + "\n" for r in rows).encode()
    (settings.artifact_root / name).write_bytes(data)
    body = {"predictions_uri": name, "predictions_sha256": hashlib.sha256(data).hexdigest()}
    return api.post(f"/v1/candidates/{candidate_id}/evaluations", json=body, headers=auth("ci")), body


def test_a_bad_line_is_a_422_naming_it_and_nothing_changes(api, auth, db, settings, register) -> None:  # noqa: ANN001
    candidate = register()
    rows = lines()
    rows[41]["probabilities"] = {rows[41]["prediction"]: 0.5}
    before = snapshot(db)
    reply, _ = submit(api, auth, settings, candidate["id"], "bad.jsonl", rows)
    assert reply.status_code == 422, reply.text
    assert (reply.json()["line"], reply.json()["field"]) == (42, "predictions.probabilities")
    assert reply.json()["detail"] == "line 42: probabilities sum to 0.5000, not 1"
    assert snapshot(db) == before


def test_the_worker_scores_the_columns_cached_by_the_request(api, auth, db, settings, register) -> None:  # noqa: ANN001
    candidate = register()
    reply, body = submit(api, auth, settings, candidate["id"], "good.jsonl", lines())
    assert reply.status_code == 202, reply.text
    with db.session() as session:
        stored = session.scalar(
            select(func.count())
            .select_from(PredictionSet)
            .where(
                PredictionSet.source_sha256 == body["predictions_sha256"], PredictionSet.arrays.is_not(None)
            )
        )
    assert stored == 4  # golden, holdout, adversarial, replay
    (settings.artifact_root / "good.jsonl").unlink()  # read once, at the request
    install()
    assert Worker(db, settings, echo=lambda _: None).run_once()
    result = api.get(f"/v1/evaluations/{reply.json()['id']}", headers=auth("ci")).json()
    assert result["status"] == "done", result["error"]
    golden = result["results"]["golden"]
    assert golden["candidate"]["accuracy"] == 1.0 and golden["latency"]["p95_ms"] == 5.0
