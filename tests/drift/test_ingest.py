"""Drift ingestion on both engines: duplicates never double-counted, labels before or after their
log, a bad row refuses the whole batch."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import select

from gatekeeper.drift import ingest as drift_ingest
from gatekeeper.drift import windows as drift_windows
from gatekeeper.drift.models import DriftLabel, PredictionLog
from gatekeeper.errors import ValidationFailed
from tests.drift.world import HOUR, T0, count, ingest, labels_for, target_id, traffic


def test_duplicates_are_ignored_and_never_double_counted(db, champion) -> None:
    logs, truth = traffic(np.random.default_rng(1), start=T0, hours=1, per_hour=50, candidate_id=champion)
    with db.transaction() as session:
        first = drift_ingest.ingest_logs(session, target_name="intent_classifier", rows=logs[:30] + logs[:5])
    assert (first.received, first.accepted, first.duplicates) == (35, 30, 5)
    resent = [{**row, "prediction": "escalation"} for row in logs[20:]]  # a retry overlapping the first batch
    with db.transaction() as session:
        second = drift_ingest.ingest_logs(session, target_name="intent_classifier", rows=resent)
    assert (second.accepted, second.duplicates) == (20, 10)
    assert count(db, PredictionLog) == 50
    with db.session() as session:  # the first write of a request wins
        kept = session.scalar(
            select(PredictionLog.prediction).where(PredictionLog.request_id == logs[25]["request_id"])
        )
    assert kept == logs[25]["prediction"]

    with db.session() as session:
        frame = drift_windows.log_frame(session, target_id(db), T0, T0 + HOUR, ["price"])
    assert len(frame) == 50 and frame["features.price"].notna().all()


def test_labels_replace_and_pick_up_the_served_prediction_either_way_round(db, champion) -> None:
    logs, truth = traffic(np.random.default_rng(2), start=T0, hours=1, per_hour=20, candidate_id=champion)
    early = labels_for(logs[:5], truth, timedelta(minutes=5))
    with db.transaction() as session:  # labels before their logs: kept, no prediction yet
        got = drift_ingest.ingest_labels(session, target_name="intent_classifier", rows=early)
    assert (got.accepted, got.replaced, got.matched) == (5, 0, 0)
    ingest(db, "intent_classifier", logs)
    late = labels_for(logs[3:], truth, timedelta(hours=2))
    late[0] = {**late[0], "label": "escalation"}  # a correction of an earlier label
    with db.transaction() as session:
        got = drift_ingest.ingest_labels(session, target_name="intent_classifier", rows=late + late[-1:])
    assert (got.received, got.accepted, got.replaced, got.matched) == (18, 15, 2, 17)
    assert count(db, DriftLabel) == 20
    with db.session() as session:
        stored = {r.request_id: r for r in session.scalars(select(DriftLabel))}
    served = {r["request_id"]: r["prediction"] for r in logs}
    assert all(stored[rid].prediction == served[rid] for rid in served)  # back-filled and copied
    assert all(stored[rid].candidate_id == champion for rid in served)
    assert stored[logs[3]["request_id"]].label == "escalation"


def test_bad_rows_refuse_the_whole_batch(db, champion) -> None:
    logs, _ = traffic(np.random.default_rng(3), start=T0, hours=1, per_hour=5, candidate_id=champion)
    logs[3]["confidence"] = 1.5
    with pytest.raises(ValidationFailed) as err, db.transaction() as session:
        drift_ingest.ingest_logs(session, target_name="intent_classifier", rows=logs)
    assert (err.value.fields["row"], err.value.fields["field"]) == (3, "confidence")
    assert count(db, PredictionLog) == 0
