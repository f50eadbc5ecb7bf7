"""Drift windows: stored once per kind and matching the statistics, retention, epoch alignment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sklearn.metrics import f1_score
from sqlalchemy import select

from gatekeeper.drift import references as drift_references
from gatekeeper.drift import stats
from gatekeeper.drift import windows as drift_windows
from gatekeeper.drift.models import DriftReference, DriftResult
from gatekeeper.drift.windows import Cadence
from tests.drift.world import DAY, HOUR, HOURLY, T0, ingest, labels_for, target_id, traffic


def test_windows_are_stored_once_per_kind_and_match_the_statistics(db, champion) -> None:
    rng = np.random.default_rng(5)
    logs, truth = traffic(rng, start=T0, hours=3, per_hour=120, candidate_id=champion)
    ingest(db, "intent_classifier", logs, labels_for(logs, truth, timedelta(minutes=30)))
    now = T0 + DAY + timedelta(minutes=1)
    with db.transaction() as session:
        ref = session.scalar(select(DriftReference))
        stored = drift_windows.compute_windows(session, ref=ref, now=now, cadence=HOURLY)
        assert (
            drift_windows.compute_windows(session, ref=ref, now=now, cadence=HOURLY) == []
        )  # nothing pending
    kinds = sorted((r.kind, r.window_start) for r in stored)
    fast = [(k, T0 + h * HOUR) for k in ("input", "prediction") for h in range(24)]
    assert kinds == sorted(fast + [("label", T0), ("concept", T0)])

    with db.session() as session:
        ref = session.scalar(select(DriftReference))
        first = session.scalar(
            select(DriftResult).where(DriftResult.kind == "input", DriftResult.window_start == T0)
        )
        label = session.scalar(select(DriftResult).where(DriftResult.kind == "label"))
        concept = session.scalar(select(DriftResult).where(DriftResult.kind == "concept"))
        empty = session.scalar(
            select(DriftResult).where(DriftResult.kind == "input", DriftResult.window_start == T0 + 5 * HOUR)
        )
        profile = drift_references.profile_of(ref)
    hour0 = [r for r in logs if r["ts"] < T0 + HOUR]
    assert first.n == 120 and not first.breached
    lang = profile.categorical["lang"]
    current = stats.align_counts(lang.categories, stats.category_counts([r["lang"] for r in hour0]))
    lang_psi = stats.psi_from_counts([*lang.counts, 0], current)
    assert first.figures["features"]["lang"] == pytest.approx(lang_psi, rel=1e-12)
    assert label.n == 360 and concept.n == 360 and label.value > 0.01
    y = [truth[r["request_id"]] for r in logs]
    p = [r["prediction"] for r in logs]
    assert concept.figures["f1"] == pytest.approx(f1_score(y, p, average="macro"), abs=1e-12)
    assert concept.value == pytest.approx(profile.reference_f1 - concept.figures["f1"], abs=1e-12)
    assert empty.n == 0 and empty.value is None and not empty.breached

    with db.session() as session:  # on demand: the same arithmetic over a trailing window, not stored
        live = drift_windows.live_figures(session, ref=ref, now=T0 + HOUR, cadence=HOURLY)
    assert live["input"]["n"] == 120 and live["input"]["value"] == pytest.approx(first.value, rel=1e-12)
    assert live["label"]["n"] == live["concept"]["n"] == 60  # labelled within the hour: requests of 0-30 min


def test_retention_drops_old_logs_and_labels_but_keeps_results(db, champion) -> None:
    logs, truth = traffic(np.random.default_rng(6), start=T0, hours=2, per_hour=10, candidate_id=champion)
    ingest(db, "intent_classifier", logs, labels_for(logs, truth, timedelta(0)))
    cadence = Cadence(log_retention=timedelta(hours=1), label_retention=timedelta(hours=30))
    with db.transaction() as session:
        gone = drift_windows.purge(session, target_id=target_id(db), now=T0 + 2 * HOUR, cadence=cadence)
    assert gone == (10, 0)
    with db.transaction() as session:
        assert drift_windows.purge(session, target_id=target_id(db), now=T0 + 31 * HOUR, cadence=cadence) == (
            10,
            10,
        )


def test_floor_time_aligns_windows_on_the_epoch() -> None:
    at = datetime(2030, 1, 7, 13, 47, 12, tzinfo=UTC)
    assert drift_windows.floor_time(at, timedelta(minutes=5)) == datetime(2030, 1, 7, 13, 45, tzinfo=UTC)
    assert drift_windows.floor_time(at, DAY) == datetime(2030, 1, 7, tzinfo=UTC)
    assert drift_windows.floor_time(at, HOUR) == datetime(2030, 1, 7, 13, tzinfo=UTC)
