"""The drift daemon replaying simulated weeks with the injectable clock, on both engines: no alert on a
stationary fortnight, each kind alerts on an injected shift only once its sustain period is covered,
small windows never alert, a seasonal acknowledgement suppresses and is audited, a safety-critical
concept drift pages and queues a retrain, and ``--once`` run twice changes nothing the second time."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from gatekeeper.cli import app
from gatekeeper.clock import ManualClock
from gatekeeper.config import Settings
from gatekeeper.db import Database
from gatekeeper.drift import daemon
from gatekeeper.drift import events as drift_events
from gatekeeper.drift import windows as drift_windows
from gatekeeper.drift.models import DriftEvent, DriftResult
from gatekeeper.drift.schemas import AckIn
from gatekeeper.jobs.models import Job
from gatekeeper.notify.models import OutboxMessage
from gatekeeper.registry.models import AuditEvent, Decision, TrainingRun
from tests.conftest import TAGS, snapshot
from tests.drift.world import (
    DAY,
    HOUR,
    HOURLY,
    MIN_SAMPLES,
    T0,
    count,
    ingest,
    labels_for,
    make_champion,
    make_target,
    synthetic_reference,
    traffic,
)

TARGET = "intent_classifier"
LANG_SHIFT = {"lang": [0.1, 0.8, 0.1]}
CONFIG = {"epochs": 1, "max_train_examples": 64}


@pytest.fixture
def champion(db: Database, settings: Settings):  # noqa: ANN201
    make_target(db)
    cid = make_champion(db, settings)
    synthetic_reference(db, cid)
    return cid


def run(db: Database, settings: Settings, now: Any) -> daemon.TargetPass:
    [out] = daemon.run_pass(db, settings, now=now, cadence=HOURLY, targets=[TARGET])
    assert out.note is None, out.note
    return out


def events(db: Database, kind: str | None = None) -> list[DriftEvent]:
    with db.session() as session:
        stmt = select(DriftEvent).order_by(DriftEvent.opened_at)
        return list(session.scalars(stmt.where(DriftEvent.kind == kind) if kind else stmt))


def actions(db: Database, entity_id: Any) -> list[str]:
    with db.session() as session:
        rows = session.scalars(
            select(AuditEvent.action).where(AuditEvent.entity_id == str(entity_id)).order_by(AuditEvent.id)
        )
        return list(rows)


def test_a_stationary_fortnight_never_alerts(db, settings, champion) -> None:
    rng = np.random.default_rng(10)
    for day in range(14):
        start = T0 + day * DAY
        logs, truth = traffic(
            rng, start=start, hours=24, per_hour=120, candidate_id=champion, prefix=f"d{day}"
        )
        ingest(db, TARGET, logs, labels_for(logs[::3], truth, timedelta(minutes=30)))
        out = run(db, settings, start + DAY)
        assert out.windows == 24 * 2 + 2 and not out.opened
    assert events(db) == []
    with db.session() as session:
        results = list(session.scalars(select(DriftResult).order_by(DriftResult.window_start)))
    by_kind = {k: [r for r in results if r.kind == k] for k in ("input", "prediction", "label", "concept")}
    assert [len(v) for v in by_kind.values()] == [336, 336, 14, 14]
    assert all(r.n == 120 for r in by_kind["input"] + by_kind["prediction"])
    assert all(r.n >= MIN_SAMPLES for r in by_kind["label"] + by_kind["concept"])
    # Every kind was really measured, and no feature stayed beyond its threshold for a whole period.
    # Single windows do cross thresholds by chance (KS > 0.15 happens at n = 120); never for a day.
    series = {
        f"input.{f}": [r.figures["features"][f] for r in by_kind["input"]]
        for f in by_kind["input"][0].figures["features"]
    }
    series["prediction.ks"] = [r.value for r in by_kind["prediction"]]
    for name, values in series.items():
        threshold = 0.2 if name.startswith("input") else 0.15
        assert longest_run(values, lambda v, t=threshold: v > t) < 24, name
    assert longest_run([r.value for r in by_kind["label"]], lambda p: p < 0.01) < 7
    assert longest_run([r.value for r in by_kind["concept"]], lambda d: d > 0.03) < 7


def longest_run(values: list[float | None], breach: Any) -> int:
    longest = current = 0
    for value in values:
        current = current + 1 if value is not None and breach(value) else 0
        longest = max(longest, current)
    return longest


@pytest.mark.parametrize(
    ("kind", "shift", "signal"),
    [("input", LANG_SHIFT, "lang"), ("prediction", {"conf_a": 3.0}, "ks")],
    ids=["language-mix", "confidence-drop"],
)
def test_fast_kinds_alert_only_after_24_hours_of_shift(db, settings, champion, kind, shift, signal) -> None:
    rng = np.random.default_rng(11)
    before, _ = traffic(rng, start=T0, hours=36, per_hour=120, candidate_id=champion, prefix="a")
    after, _ = traffic(rng, start=T0 + 36 * HOUR, hours=24, per_hour=120, candidate_id=champion, shift=shift)
    ingest(db, TARGET, before + after)
    assert not run(db, settings, T0 + 36 * HOUR).opened
    almost = run(db, settings, T0 + 59 * HOUR)  # 23 shifted hours
    assert not almost.opened and almost.windows == 2 * 23
    now = run(db, settings, T0 + 60 * HOUR)
    assert len(now.opened) == 1
    [event] = events(db)
    assert (event.kind, event.status, event.action) == (kind, "open", "review")
    assert event.since == T0 + 36 * HOUR and signal in event.figures["signals"]
    assert event.figures["value"] > event.figures["threshold"]
    assert actions(db, event.id) == ["drift.event.open"]
    assert event.training_run_id is None and event.paged_at is None


def _labelled_days(
    db: Database, champion: Any, *, days: int, per_hour: int, shift_from: int, shift: dict
) -> None:
    rng = np.random.default_rng(12)
    for day in range(days):
        start = T0 + day * DAY
        logs, truth = traffic(
            rng,
            start=start,
            hours=24,
            per_hour=per_hour,
            candidate_id=champion,
            shift=shift if day >= shift_from else None,
            prefix=f"d{day}",
        )
        ingest(db, TARGET, logs, labels_for(logs, truth, timedelta(minutes=10)))


def test_label_drift_alerts_after_seven_days_and_small_windows_never_do(db, settings, champion) -> None:
    shift = {"priors": [0.25, 0.25, 0.15, 0.2, 0.15]}
    _labelled_days(db, champion, days=10, per_hour=13, shift_from=3, shift=shift)
    for day in range(1, 10):
        assert not run(db, settings, T0 + day * DAY).opened, day  # days 3..8: six shifted days
    last = run(db, settings, T0 + 10 * DAY)
    [event] = events(db)
    assert last.opened == [str(event.id)] and event.kind == "label" and event.since == T0 + 3 * DAY
    assert event.figures["value"] < 0.01 and event.action == "retrain"  # sustained a full week
    assert "no training run" in (event.retrain_note or "")
    with db.session() as session:
        fast = list(session.scalars(select(DriftResult).where(DriftResult.kind.in_(["input", "prediction"]))))
    # 13 requests an hour: every fast window is far below min_samples, so none breaches, whatever its PSI
    assert fast and all(r.n == 13 and not r.breached for r in fast)


def test_small_windows_never_alert_even_on_a_huge_shift(db, settings, champion) -> None:
    rng = np.random.default_rng(13)
    logs, truth = traffic(
        rng, start=T0, hours=72, per_hour=8, candidate_id=champion, shift={**LANG_SHIFT, "conf_a": 1.0}
    )
    ingest(db, TARGET, logs, labels_for(logs, truth, timedelta(0)))
    for hours in (24, 48, 72):
        assert not run(db, settings, T0 + hours * HOUR).opened
    with db.session() as session:
        results = list(session.scalars(select(DriftResult)))
    assert max(r.figures["features"]["lang"] for r in results if r.kind == "input") > 0.5
    assert all(not r.breached for r in results) and events(db) == []


def test_seasonal_acknowledgement_suppresses_until_its_end_and_is_audited(db, settings, champion) -> None:
    rng = np.random.default_rng(14)
    parts = [(0, 36, None), (36, 36, LANG_SHIFT), (72, 12, None), (84, 42, LANG_SHIFT)]
    for start, hours, shift in parts:
        logs, _ = traffic(
            rng,
            start=T0 + start * HOUR,
            hours=hours,
            per_hour=120,
            candidate_id=champion,
            shift=shift,
            prefix=f"p{start}",
        )
        ingest(db, TARGET, logs)
    run(db, settings, T0 + 36 * HOUR)
    [first] = run(db, settings, T0 + 60 * HOUR).opened
    until = T0 + 120 * HOUR
    with db.transaction() as session:
        spec = AckIn(reason="volume 4 release Friday: known spike", seasonal=True, until=until)
        drift_events.acknowledge(session, event_id=first, spec=spec, actor="oncall", now=T0 + 61 * HOUR)
    with db.session() as session:
        ack = session.scalar(select(AuditEvent).where(AuditEvent.action == "drift.event.ack"))
    assert (ack.actor, ack.entity_id, ack.note) == ("oncall", first, "volume 4 release Friday: known spike")
    assert (
        ack.after["seasonal"] is True
        and ack.after["until"] == until.isoformat()
        and ack.after["action"] == "none"
    )

    assert not run(db, settings, T0 + 72 * HOUR).opened  # drift goes on: the event stays acknowledged
    [event] = events(db)
    assert (event.status, event.action, event.seasonal) == ("acknowledged", "none", True)
    assert run(db, settings, T0 + 84 * HOUR).resolved == [first]  # twelve normal hours
    again = run(db, settings, T0 + 108 * HOUR)  # 24 shifted hours again, inside the suppression
    assert again.suppressed == ["input"] and not again.opened
    assert not run(db, settings, T0 + 119 * HOUR).opened
    after = run(db, settings, T0 + 121 * HOUR)  # the suppression ended at 120 h
    assert len(after.opened) == 1
    second = events(db)[-1]
    assert second.since == T0 + 84 * HOUR and second.status == "open" and second.action == "review"


def _trained_champion(db: Database, settings: Settings) -> Any:
    make_target(db)
    cid = make_champion(db, settings, config=CONFIG)
    synthetic_reference(db, cid)
    return cid


def test_safety_concept_drift_pages_and_queues_a_retrain_with_the_champions_config(db, settings) -> None:
    settings = settings.model_copy(
        update={
            "pagerduty_url": "http://pd.invalid/enqueue",
            "slack_webhook_url": "http://slack.invalid/hook",
        }
    )
    champion = _trained_champion(db, settings)
    _labelled_days(db, champion, days=10, per_hour=22, shift_from=2, shift={"confuse": {"escalation": 0.7}})
    for day in range(1, 9):
        assert not run(db, settings, T0 + day * DAY).opened, day
    out = run(db, settings, T0 + 9 * DAY)  # days 2..8: seven days of delta-F1 > 0.03
    [event] = events(db)
    assert out.opened == [str(event.id)] and out.pages == 1 and out.retrains == [str(event.training_run_id)]
    assert (event.kind, event.action, event.since) == ("concept", "retrain_now", T0 + 2 * DAY)
    assert event.paged_at == T0 + 9 * DAY and any("escalation recall" in r for r in event.reasons)
    assert event.figures["value"] > 0.03

    with db.session() as session:
        run_ = session.get(TrainingRun, event.training_run_id)
        original = session.scalar(select(TrainingRun).where(TrainingRun.id != event.training_run_id))
        job = session.scalar(select(Job).where(Job.ref_id == str(event.training_run_id)))
        outbox = list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.channel)))
    assert (run_.trainer, run_.status, run_.params["config"]) == (
        "intent",
        "queued",
        original.params["config"],
    )
    assert run_.params["config"] == CONFIG and run_.created_by == daemon.ACTOR
    assert run_.tags["data_snapshot_id"] == f"{TAGS['data_snapshot_id']}+drift-{event.id.hex[:8]}"
    assert {k: v for k, v in run_.tags.items() if k != "data_snapshot_id"} == {
        k: v for k, v in TAGS.items() if k != "data_snapshot_id"
    }
    assert job is not None and job.kind == "training" and job.status == "queued"
    assert [m.channel for m in outbox] == ["pagerduty", "slack"]
    assert all(m.source == f"drift:{event.id}" and m.status == "pending" for m in outbox)
    pd = outbox[0].payload
    assert pd["dedup_key"] == f"drift:{event.id}" and pd["payload"]["severity"] == "warning"
    assert pd["payload"]["custom_details"]["training_run_id"] == str(event.training_run_id)
    assert actions(db, event.id) == ["drift.event.open", "drift.retrain.queue", "drift.page"]

    run(db, settings, T0 + 10 * DAY)  # the next day neither pages nor queues again
    assert count(db, OutboxMessage) == 2 and count(db, TrainingRun) == 2
    assert [e.kind for e in events(db)] == ["concept"]  # the class mix did not move: no label drift


def test_upstream_change_retrains_and_says_so_when_the_champion_has_no_training_run(
    db, settings, champion
) -> None:
    make_target(db, "embedding")
    upstream = make_champion(db, settings, target="embedding")
    with db.transaction() as session:  # its promotion happened while this target's inputs moved
        session.execute(
            update(Decision).where(Decision.candidate_id == upstream).values(created_at=T0 + 40 * HOUR)
        )
    rng = np.random.default_rng(15)
    before, _ = traffic(rng, start=T0, hours=36, per_hour=120, candidate_id=champion, prefix="a")
    after, _ = traffic(
        rng, start=T0 + 36 * HOUR, hours=24, per_hour=120, candidate_id=champion, shift=LANG_SHIFT
    )
    ingest(db, TARGET, before + after)
    run(db, settings, T0 + 36 * HOUR)
    out = run(db, settings, T0 + 60 * HOUR)
    [event] = [e for e in events(db) if str(e.id) in out.opened]
    assert event.action == "retrain" and event.reasons[0].startswith(
        "upstream model changed: embedding v1 promote"
    )
    assert event.training_run_id is None and "no training run" in (event.retrain_note or "")
    assert actions(db, event.id) == ["drift.event.open", "drift.retrain.unavailable"]


def test_once_twice_over_the_same_windows_changes_nothing(db, settings, champion, monkeypatch) -> None:
    rng = np.random.default_rng(16)
    before, _ = traffic(rng, start=T0, hours=12, per_hour=120, candidate_id=champion, prefix="a")
    after, truth = traffic(
        rng, start=T0 + 12 * HOUR, hours=24, per_hour=120, candidate_id=champion, shift=LANG_SHIFT
    )
    ingest(db, TARGET, before + after, labels_for(after, truth, timedelta(0)))
    monkeypatch.setenv("GATEKEEPER_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("GATEKEEPER_REPORT_DIR", str(settings.report_dir))
    from gatekeeper.config import get_settings

    get_settings.cache_clear()
    at = (T0 + 36 * HOUR + timedelta(minutes=1)).isoformat()  # the default one-minute settle
    args = ["drift-daemon", "--once", "--at", at, "--fast-minutes", "60"]
    try:
        first = CliRunner().invoke(app, args)
        assert first.exit_code == 0, first.output
        assert "intent_classifier: 74 result(s); opened 1" in first.output  # 36 x 2 hourly + 1 x 2 daily
        state = snapshot(db)
        second = CliRunner().invoke(app, args)
        assert second.exit_code == 0, second.output
        assert "intent_classifier: 0 result(s)" in second.output and "opened" not in second.output
        assert snapshot(db) == state
    finally:
        get_settings.cache_clear()
    assert [e.kind for e in events(db)] == ["input"]


def test_kinds_drifting_together_share_one_retrain(db, settings) -> None:
    settings = settings.model_copy(update={"slack_webhook_url": "http://slack.invalid/hook"})
    champion = _trained_champion(db, settings)
    shift = {**LANG_SHIFT, "confuse": {"escalation": 0.9}}  # inputs move and escalations go to faq
    _labelled_days(db, champion, days=3, per_hour=22, shift_from=2, shift=shift)
    daily = drift_windows.Cadence(fast=DAY, settle=timedelta(0))
    for day in (1, 2):
        assert not daemon.run_pass(db, settings, now=T0 + day * DAY, cadence=daily)[0].opened
    [out] = daemon.run_pass(db, settings, now=T0 + 3 * DAY, cadence=daily)  # one daily window covers 24 h
    found = {e.kind: e for e in events(db)}
    assert sorted(found) == ["input", "prediction"] and len(out.opened) == 2
    assert {e.action for e in found.values()} == {"retrain_now"}  # the escalation slice regressed
    assert (
        found["prediction"].figures["signals"] == ["kl"]
        and found["prediction"].figures["latest"]["kl"] > 0.028
    )
    assert found["input"].training_run_id == found["prediction"].training_run_id is not None
    assert count(db, TrainingRun) == 2 and len(out.retrains) == 1
    queued, shared = sorted(found.values(), key=lambda e: actions(db, e.id))
    assert "drift.retrain.shared" in actions(db, shared.id) and "drift.retrain.queue" in actions(
        db, queued.id
    )
    assert count(db, OutboxMessage) == 2  # one Slack message per event (no PagerDuty URL configured)


def test_run_forever_passes_on_its_clock_until_stopped(db, settings, champion) -> None:
    logs, _ = traffic(np.random.default_rng(17), start=T0, hours=2, per_hour=10, candidate_id=champion)
    ingest(db, TARGET, logs)
    clock, stop, lines = ManualClock(T0 + 2 * HOUR), threading.Event(), []

    def echo(line: str) -> None:
        lines.append(line)
        clock.advance(HOUR)
        if len(lines) == 2:
            stop.set()

    daemon.run_forever(db, settings, clock=clock, interval=0.0, cadence=HOURLY, stop=stop, echo=echo)
    assert lines == ["intent_classifier: 4 result(s)", "intent_classifier: 2 result(s)"]
