"""Canary evidence is append-only and the re-enable check judges the figures recorded with the trigger:
re-posted, late, future, post-start baseline and rewritten windows, through the HTTP API and the daemon
on the manual clock, on SQLite and Postgres."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from gatekeeper.canary import bake
from gatekeeper.canary import service as canaries
from gatekeeper.canary.models import Canary, MetricWindow
from gatekeeper.canary.simulate import Regression, healthy_stream
from tests.canary.conftest import post_until
from tests.conftest import snapshot
from tests.promotion.conftest import T0

REGRESSION = Regression("error_rate", timedelta(hours=12), timedelta(minutes=40), 4.0)


def window(group: str, start: datetime, **figures: Any) -> dict[str, Any]:
    body = {"requests": 1000, "errors": 5, "latency_p99_ms": 100.0} | figures
    end = start + timedelta(minutes=5)
    return {"start": start.isoformat(), "end": end.isoformat(), "group": group, **body}


def post(api, auth, canary_id: str, windows: list) -> Any:  # noqa: ANN001
    body = [w if isinstance(w, dict) else w.to_dict() for w in windows]
    return api.post(f"/v1/canaries/{canary_id}/metrics", json={"windows": body}, headers=auth("serving"))


def stored(api, auth, canary_id: str) -> list[dict]:  # noqa: ANN001
    params = {"limit": 20_000}
    return api.get(f"/v1/canaries/{canary_id}/windows", params=params, headers=auth("reviewer")).json()


def refusals(api, auth) -> list[dict]:  # noqa: ANN001
    params = {"action": "canary.windows_refused"}
    return api.get("/v1/audit", params=params, headers=auth("ci")).json()


def reenable(api, auth, canary_id: str) -> Any:  # noqa: ANN001
    body = {"reason": "the numbers look fine now"}
    return api.post(f"/v1/canaries/{canary_id}/reenable", json=body, headers=auth("oncall"))


def auto_abort(api, auth, canary, daemon, clock, **stream: Any) -> dict:  # noqa: ANN001
    post_until(
        api, auth, clock, canary["id"], healthy_stream(T0, days=1, seed=5, **stream), T0 + timedelta(days=1)
    )
    assert daemon.tick().aborted == [canary["id"]]
    return api.get(f"/v1/canaries/{canary['id']}", headers=auth("ci")).json()


@pytest.mark.usefixtures("seed_rules")
def test_the_trigger_records_the_windows_it_fired_on(api, auth, canary, daemon, clock) -> None:
    trigger = auto_abort(api, auth, canary, daemon, clock, regression=REGRESSION)["trigger"]
    recorded = trigger["evidence"]["canary"]
    assert [w["start"] for w in recorded] == trigger["window_starts"]
    held = {(w["group"], w["start_s"]): w for w in stored(api, auth, canary["id"])}
    for w in recorded + trigger["evidence"]["holdout"]:
        start_s = int(datetime.fromisoformat(w["start"]).timestamp())
        same = held[(w["group"], start_s)]
        assert (w["requests"], w["errors"], w["latency_p99_ms"]) == (
            same["requests"],
            same["errors"],
            same["latency_p99_ms"],
        )
    rows = trigger["figures"]["windows"]
    assert [w["errors"] for w in recorded] == [r["canary_errors"] for r in rows]


@pytest.mark.usefixtures("seed_rules")
def test_reposted_trigger_windows_are_refused_and_reenable_still_409(
    api, auth, db, canary, daemon, clock
) -> None:
    trigger = auto_abort(api, auth, canary, daemon, clock, regression=REGRESSION)["trigger"]
    healthy = [{**w, "errors": 0} for w in trigger["evidence"]["canary"]]
    before = stored(api, auth, canary["id"])
    refused = post(api, auth, canary["id"], healthy)
    assert refused.status_code == 409, refused.text
    assert "append-only" in refused.json()["detail"] and refused.json()["field"] == "windows.0"
    [audit] = refusals(api, auth)
    assert audit["actor"] == "serving" and audit["entity_id"] == canary["id"]
    assert audit["before"]["errors"] == trigger["evidence"]["canary"][0]["errors"]
    assert audit["after"]["errors"] == 0
    assert stored(api, auth, canary["id"]) == before
    answer = reenable(api, auth, canary["id"])
    assert answer.status_code == 409 and answer.json()["rule"] == "error_rate"
    recorded = [w["errors"] for w in trigger["evidence"]["canary"]]
    assert [w["canary_errors"] for w in answer.json()["figures"]["windows"]] == recorded


@pytest.mark.usefixtures("seed_rules")
def test_reenable_never_reads_the_stored_canary_windows(api, auth, db, canary, daemon, clock) -> None:
    auto_abort(api, auth, canary, daemon, clock, regression=REGRESSION)
    with db.transaction() as session:  # what a rewrite that got past the API would do
        session.execute(
            update(MetricWindow)
            .where(MetricWindow.canary_id == canaries.get(session, canary["id"]).id)
            .where(MetricWindow.grp == "canary")
            .values(errors=0)
        )
    answer = reenable(api, auth, canary["id"])
    assert answer.status_code == 409 and answer.json()["rule"] == "error_rate"
    assert all(w["canary_errors"] > 0 for w in answer.json()["figures"]["windows"])


def test_identical_repost_is_idempotent_and_a_changed_window_refuses_the_batch(
    api, auth, db, canary, clock
) -> None:
    clock.set(T0 + timedelta(hours=1))
    windows = healthy_stream(T0, days=1 / 24, seed=4, baseline=False)
    first = post(api, auth, canary["id"], windows[:10])
    assert first.status_code == 200 and first.json() == {"accepted": 10, "unchanged": 0}
    before = snapshot(db)
    again = post(api, auth, canary["id"], windows[:10])
    assert again.status_code == 200 and again.json() == {"accepted": 0, "unchanged": 10}
    assert snapshot(db) == before
    changed = {**windows[3].to_dict(), "latency_p99_ms": windows[3].latency_p99_ms + 1}
    batch = [w.to_dict() for w in windows[10:]] + [changed]
    refused = post(api, auth, canary["id"], batch)
    assert refused.status_code == 409 and refused.json()["field"] == f"windows.{len(batch) - 1}"
    after = snapshot(db)
    assert {t: rows for t, rows in after.items() if not t.startswith("audit_")} == {
        t: rows for t, rows in before.items() if not t.startswith("audit_")
    }  # nothing of the batch was stored
    assert len(after["audit_events"]) == len(before["audit_events"]) + 1 and len(refusals(api, auth)) == 1
    rest = post(api, auth, canary["id"], windows)  # the held ten again plus the new ones
    assert rest.json() == {"accepted": len(windows) - 10, "unchanged": 10}


def test_one_batch_cannot_carry_two_bodies_for_one_window(api, auth, canary, clock) -> None:
    clock.set(T0 + timedelta(minutes=10))
    a, b = window("canary", T0, errors=1), window("canary", T0, errors=2)
    refused = post(api, auth, canary["id"], [a, b])
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "windows.1"
    assert post(api, auth, canary["id"], [a, a]).json() == {"accepted": 1, "unchanged": 1}


def test_windows_are_refused_unless_running(api, auth, db, register, canary, daemon, clock) -> None:
    auto_abort(api, auth, canary, daemon, clock, regression=REGRESSION)
    late = window("canary", clock.now())  # a new window, never posted
    clock.advance(timedelta(minutes=5))
    refused = post(api, auth, canary["id"], [late])
    assert refused.status_code == 409 and refused.json()["current_state"] == "aborted"
    ended = api.post(
        f"/v1/canaries/{canary['id']}/abort", json={"reason": "not worth it"}, headers=auth("oncall")
    )
    assert ended.json()["state"] == "failed"
    refused = post(api, auth, canary["id"], [late])
    assert refused.status_code == 409 and refused.json()["current_state"] == "failed"
    assert refusals(api, auth) == []  # new windows refused by state; nothing was rewritten


def test_windows_after_a_passed_canary_are_409(api, auth, db, canary, clock) -> None:
    clock.set(T0 + timedelta(minutes=10))
    with db.transaction() as session:
        promoted = canaries.get(session, canary["id"], lock=True)
        canaries.promote(session, promoted, actor="test", at=clock.now())
        bake.finish(session, promoted, actor="test", now=clock.now())  # and its bake passed: it is over
    refused = post(api, auth, canary["id"], [window("canary", T0)])
    assert refused.status_code == 409 and refused.json()["current_state"] == "passed"


@pytest.mark.usefixtures("seed_rules")
def test_baseline_windows_must_lie_in_the_hour_before_the_start(api, auth, canary, daemon, clock) -> None:
    clock.set(T0 + timedelta(minutes=30))
    bad = 100  # a post-start "baseline" at 10 % errors would excuse the regression below
    cases = [
        (window("baseline", T0, errors=bad), "windows.0.end"),
        (window("baseline", T0 + timedelta(minutes=10), errors=bad), "windows.0.end"),
        (window("baseline", T0 - timedelta(minutes=62), errors=bad), "windows.0.start"),
    ]
    for body, field in cases:
        refused = post(api, auth, canary["id"], [body])
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["field"] == field and "hour before" in refused.json()["detail"]
    genuine = [w for w in healthy_stream(T0, days=1, seed=5, regression=REGRESSION) if w.group == "baseline"]
    assert post(api, auth, canary["id"], genuine[-1:]).json() == {"accepted": 1, "unchanged": 0}
    clock.set(T0)
    auto_abort(api, auth, canary, daemon, clock, regression=REGRESSION)
    answer = reenable(api, auth, canary["id"])
    assert answer.status_code == 409 and answer.json()["figures"]["baseline"]["windows"] == 12


def test_future_and_too_old_windows_are_422(api, auth, settings, canary, clock) -> None:
    now = clock.advance(timedelta(hours=1))
    skew = timedelta(seconds=settings.evidence_skew_seconds)
    ok = window("canary", now - timedelta(minutes=5))
    future = window("holdout", now - timedelta(minutes=5) + skew + timedelta(seconds=1))
    refused = post(api, auth, canary["id"], [ok, future])
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "windows.1.end"
    assert "now" in refused.json()["errors"][0]["msg"]
    old = window("holdout", T0 - skew - timedelta(seconds=1))
    refused = post(api, auth, canary["id"], [ok, old])
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "windows.1.start"
    edges = [window("canary", T0 - skew), window("canary", now - timedelta(minutes=5) + skew), ok]
    assert post(api, auth, canary["id"], edges).json() == {"accepted": 3, "unchanged": 0}


def test_after_a_reenable_the_judged_period_takes_no_late_windows(api, auth, canary, daemon, clock) -> None:
    auto_abort(
        api,
        auth,
        canary,
        daemon,
        clock,
        holdout_anomaly=Regression("error_rate", timedelta(hours=12), timedelta(hours=2), 0.05),
        regression=Regression("error_rate", timedelta(hours=12), timedelta(hours=2), 1.6),
    )
    paused = clock.now() + timedelta(minutes=10)  # served while aborted, never posted
    clock.advance(timedelta(hours=1))
    assert reenable(api, auth, canary["id"]).status_code == 200
    refused = post(api, auth, canary["id"], [window("canary", paused)])
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "windows.0.start"
    fresh = window("canary", clock.now())
    clock.advance(timedelta(minutes=5))
    assert post(api, auth, canary["id"], [fresh]).status_code == 200


def test_an_abort_stored_without_recorded_windows_is_409_until_forced(
    api, auth, db, canary, daemon, clock
) -> None:
    auto_abort(api, auth, canary, daemon, clock, regression=REGRESSION)
    with db.transaction() as session:  # the shape the code before recorded windows stored
        row = session.get(Canary, canaries.get(session, canary["id"]).id)
        row.trigger = {k: v for k, v in row.trigger.items() if k != "evidence"}
    answer = reenable(api, auth, canary["id"])
    assert answer.status_code == 409 and answer.json()["recorded"] is False
    assert "force" in answer.json()["detail"]
    forced = {"reason": "checked the figures by hand", "force": True}
    ok = api.post(f"/v1/canaries/{canary['id']}/reenable", json=forced, headers=auth("admin"))
    assert ok.status_code == 200 and ok.json()["state"] == "running"
