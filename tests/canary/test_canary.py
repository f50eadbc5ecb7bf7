"""Staged canary with the daemon on a manual clock: stages, promotion, auto-abort with rollback and a
page, on-call re-enable against the baseline, manual abort; on SQLite and Postgres."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from gatekeeper.canary.rules import Window, requests_for_power
from gatekeeper.canary.simulate import Regression, baseline_windows, healthy_stream
from gatekeeper.notify.models import OutboxMessage
from gatekeeper.notify.service import deliver_due
from tests.canary.conftest import policy_text, post_until, post_windows
from tests.conftest import snapshot
from tests.promotion.conftest import T0, gate_pass


def routing(api, auth) -> list[tuple[str, float]]:  # noqa: ANN001
    data = api.get("/v1/targets/intent_classifier/routing", headers=auth("reviewer")).json()
    assert sum(r["weight"] for r in data["routes"]) == pytest.approx(1.0)
    return [(r["role"], r["weight"]) for r in data["routes"]]


def status(api, auth, cid: str) -> str:  # noqa: ANN001
    return api.get(f"/v1/candidates/{cid}", headers=auth("ci")).json()["status"]


def test_canary_needs_a_passed_shadow(api, auth, register, db, champion) -> None:
    candidate = register()
    gate_pass(db, candidate["id"])
    refused = api.post(f"/v1/candidates/{candidate['id']}/canary", headers=auth("ci"))
    assert refused.status_code == 409 and refused.json()["current_status"] == "gate_passed"
    api.post(f"/v1/candidates/{candidate['id']}/shadow", headers=auth("ci"))
    pending = api.post(f"/v1/candidates/{candidate['id']}/canary", headers=auth("ci"))
    assert pending.status_code == 409 and "shadow has not passed (pending)" in pending.json()["detail"]


def test_standard_plan_stages_and_promotion(api, auth, db, canary, shadowed, champion, daemon, clock) -> None:
    no_bake = policy_text(**{"bake_hours: 24": "bake_hours: 0"})  # bakes: test_bake.py
    updated = api.put("/v1/targets/intent_classifier/policy", json={"policy": no_bake}, headers=auth("admin"))
    assert updated.status_code == 200, updated.text
    assert canary["plan"] == [
        {"share": 0.01, "days": 7},
        {"share": 0.05, "days": 3},
        {"share": 0.25, "days": 7},
    ]
    assert routing(api, auth) == [("champion", 0.99), ("canary", 0.01)]
    stream = healthy_stream(T0, days=17.5, seed=3)
    expected = {6.9: 0.01, 7.01: 0.05, 10.01: 0.25}
    for day, share in expected.items():
        post_until(api, auth, clock, canary["id"], stream, T0 + timedelta(days=day))
        report = daemon.tick()
        assert report.aborted == [], report
        assert routing(api, auth) == [("champion", round(1 - share, 10)), ("canary", share)]
    post_until(api, auth, clock, canary["id"], stream, T0 + timedelta(days=17.01))
    assert daemon.tick().advanced
    assert status(api, auth, shadowed["id"]) == "champion" and status(api, auth, champion["id"]) == "retired"
    assert routing(api, auth) == [("champion", 1.0)]
    done = api.get(f"/v1/canaries/{canary['id']}", headers=auth("ci")).json()
    assert done["state"] == "passed" and done["finished_at"].startswith("2026-11-19")
    verdicts = [
        (d["stage"], d["verdict"])
        for d in api.get(f"/v1/candidates/{shadowed['id']}/decisions", headers=auth("ci")).json()
    ]
    assert verdicts == [("offline", "pass"), ("shadow", "pass"), ("full", "promote")]


def test_extended_plan_when_the_offline_decision_says_so(api, auth, register, db, champion, clock) -> None:
    from tests.promotion.conftest import run_shadow

    candidate = register()
    gate_pass(db, candidate["id"], extended=True)
    run_shadow(api, auth, clock, candidate["id"], n=200)
    started = api.post(f"/v1/candidates/{candidate['id']}/canary", headers=auth("ci")).json()
    assert started["extended"] is True and started["plan"] == [{"share": 0.1, "days": 14}]
    assert routing(api, auth) == [("champion", 0.9), ("canary", 0.1)]


def test_metric_windows_take_identical_duplicates_and_refuse_bad_ones(api, auth, db, canary, clock) -> None:
    windows = healthy_stream(T0, days=0.1, seed=1, baseline=False)
    clock.set(T0 + timedelta(days=0.1))  # the serving layer posts windows once they have ended
    post_windows(api, auth, canary["id"], windows)
    post_windows(api, auth, canary["id"], list(reversed(windows)))  # out of order and repeated
    counts = api.get(f"/v1/canaries/{canary['id']}", headers=auth("ci")).json()["windows"]
    assert counts == {"canary": len(windows) // 2, "holdout": len(windows) // 2}
    before = snapshot(db)
    bad = {
        "start": T0.isoformat(),
        "end": (T0 + timedelta(minutes=5)).isoformat(),
        "group": "canary",
        "requests": 10,
        "errors": 11,
        "latency_p99_ms": 5,
    }
    for window, field in [
        (bad, "windows.0"),
        ({**bad, "errors": 1, "group": "blue"}, "windows.0.group"),
        ({**bad, "errors": 1, "safety": {"x": "nan"}}, "windows.0.safety"),
    ]:
        response = api.post(
            f"/v1/canaries/{canary['id']}/metrics", json={"windows": [window]}, headers=auth("serving")
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"].startswith(field), response.json()
    assert snapshot(db) == before


def abort_with(api, auth, canary, daemon, clock, **stream) -> dict:  # noqa: ANN001
    post_until(
        api, auth, clock, canary["id"], healthy_stream(T0, days=1, seed=5, **stream), T0 + timedelta(days=1)
    )
    report = daemon.tick()
    assert report.aborted == [canary["id"]], report
    return api.get(f"/v1/canaries/{canary['id']}", headers=auth("ci")).json()


@pytest.mark.usefixtures("seed_rules")
def test_real_regression_aborts_pages_and_refuses_reenable(
    api, auth, db, settings, canary, shadowed, daemon, clock, receiver
) -> None:
    settings.pagerduty_url, settings.slack_webhook_url = f"{receiver.url}/pd", f"{receiver.url}/slack"
    regression = Regression("error_rate", timedelta(hours=12), timedelta(minutes=40), 4.0)
    aborted = abort_with(api, auth, canary, daemon, clock, regression=regression)
    assert aborted["state"] == "aborted" and aborted["trigger"]["rule"] == "error_rate"
    assert routing(api, auth) == [("champion", 1.0)]  # rolled back in the abort's own transaction
    assert status(api, auth, shadowed["id"]) == "aborted"
    decision = api.get(f"/v1/candidates/{shadowed['id']}/decisions", headers=auth("ci")).json()[-1]
    assert decision["verdict"] == "abort" and decision["details"]["trigger"]["figures"]["windows"]
    import httpx

    with httpx.Client() as http:
        assert deliver_due(db, now=clock.now(), http=http).delivered == 2
    paths = sorted(path for path, _ in receiver.bodies)
    assert paths == ["/pd", "/slack"]
    pd = dict(receiver.bodies)["/pd"]
    assert pd["event_action"] == "trigger" and pd["payload"]["custom_details"]["sev"] == "SEV-3"
    assert "error_rate" in pd["payload"]["summary"] and canary["id"] in pd["dedup_key"]
    refused = api.post(
        f"/v1/canaries/{canary['id']}/reenable", json={"reason": "looks like noise"}, headers=auth("oncall")
    )
    assert refused.status_code == 409 and refused.json()["rule"] == "error_rate" and refused.json()["figures"]
    assert status(api, auth, shadowed["id"]) == "aborted"


def test_holdout_anomaly_aborts_and_reenable_succeeds(api, auth, db, canary, shadowed, daemon, clock) -> None:
    anomaly = Regression("error_rate", timedelta(hours=12), timedelta(hours=2), 0.05)  # holdout errors vanish
    abort_with(
        api,
        auth,
        canary,
        daemon,
        clock,
        holdout_anomaly=anomaly,  # the canary runs as usual: the holdout alone misbehaves
    )
    clock.advance(timedelta(hours=1))
    ok = api.post(
        f"/v1/canaries/{canary['id']}/reenable",
        json={"reason": "holdout had an outage-free blip"},
        headers=auth("oncall"),
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["state"] == "running" and ok.json()["reenables"] == 1
    assert ok.json()["armed_since"].startswith((T0 + timedelta(days=1, hours=1)).date().isoformat())
    assert status(api, auth, shadowed["id"]) == "canary"
    assert routing(api, auth) == [("champion", 0.99), ("canary", 0.01)]
    assert daemon.tick().aborted == []  # the old trigger windows are not judged again
    audit = api.get("/v1/audit", params={"action": "canary.reenable"}, headers=auth("ci")).json()
    assert audit and audit[0]["actor"] == "oncall" and audit[0]["after"]["recheck"]["fires"] is False


def _sequential_only(api, auth) -> None:  # noqa: ANN001
    text = policy_text(**{"rules: seed": "rules: sequential"})
    updated = api.put("/v1/targets/intent_classifier/policy", json={"policy": text}, headers=auth("admin"))
    assert updated.status_code == 200, updated.text


def test_a_sequential_abort_is_rechecked_with_the_sequential_test(api, auth, canary, daemon, clock) -> None:
    _sequential_only(api, auth)
    regression = Regression("error_rate", timedelta(hours=12), timedelta(hours=3), 4.0)
    aborted = abort_with(api, auth, canary, daemon, clock, regression=regression)
    assert aborted["trigger"]["rule"] == "sequential" and aborted["trigger"]["metric"] == "error_ratio"
    refused = api.post(
        f"/v1/canaries/{canary['id']}/reenable", json={"reason": "looks like noise"}, headers=auth("oncall")
    )
    body = refused.json()
    assert refused.status_code == 409 and body["rule"] == "sequential", body
    assert body["figures"]["p_value"] <= body["figures"]["alpha"] and "canary regressed" in body["detail"]


def test_a_sequential_abort_on_a_holdout_anomaly_is_reenabled(
    api, auth, canary, shadowed, daemon, clock
) -> None:
    _sequential_only(api, auth)
    anomaly = Regression("error_rate", timedelta(hours=12), timedelta(hours=3), 0.05)  # holdout errors vanish
    aborted = abort_with(api, auth, canary, daemon, clock, holdout_anomaly=anomaly)
    assert aborted["trigger"]["rule"] == "sequential"
    ok = api.post(
        f"/v1/canaries/{canary['id']}/reenable", json={"reason": "holdout blip"}, headers=auth("oncall")
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["state"] == "running" and status(api, auth, shadowed["id"]) == "canary"


def test_reenable_without_a_baseline_is_409(api, auth, canary, daemon, clock) -> None:
    abort_with(
        api,
        auth,
        canary,
        daemon,
        clock,
        baseline=False,
        regression=Regression("error_rate", timedelta(hours=12), timedelta(minutes=40), 4.0),
    )
    refused = api.post(
        f"/v1/canaries/{canary['id']}/reenable", json={"reason": "please"}, headers=auth("oncall")
    )
    assert refused.status_code == 409 and "baseline" in refused.json()["detail"]


def test_force_reenable_is_admin_only_and_audited(api, auth, canary, shadowed, daemon, clock) -> None:
    abort_with(
        api,
        auth,
        canary,
        daemon,
        clock,
        regression=Regression("error_rate", timedelta(hours=12), timedelta(minutes=40), 4.0),
    )
    forced = {"reason": "known bad holdout host", "force": True}
    assert (
        api.post(f"/v1/canaries/{canary['id']}/reenable", json=forced, headers=auth("oncall")).status_code
        == 403
    )
    assert (
        api.post(
            f"/v1/canaries/{canary['id']}/reenable", json={"force": True}, headers=auth("admin")
        ).status_code
        == 422
    )  # a reason is required
    ok = api.post(f"/v1/canaries/{canary['id']}/reenable", json=forced, headers=auth("admin"))
    assert ok.status_code == 200 and status(api, auth, shadowed["id"]) == "canary"
    audit = api.get("/v1/audit", params={"action": "canary.reenable_override"}, headers=auth("ci")).json()
    assert audit[0]["actor"] == "admin" and audit[0]["note"] == "known bad holdout host"


def test_manual_abort_fails_the_promotion(api, auth, canary, shadowed, champion) -> None:
    ended = api.post(
        f"/v1/canaries/{canary['id']}/abort", json={"reason": "csat complaints"}, headers=auth("oncall")
    )
    assert ended.status_code == 200 and ended.json()["state"] == "failed"
    assert status(api, auth, shadowed["id"]) == "failed_promotion"
    assert api.get("/v1/targets/intent_classifier/latest", headers=auth("ci")).json()["id"] == champion["id"]
    assert routing(api, auth) == [("champion", 1.0)]
    again = api.post(f"/v1/canaries/{canary['id']}/abort", json={"reason": "twice"}, headers=auth("oncall"))
    assert again.status_code == 409


def test_low_traffic_and_baseline_only_streams_never_abort(api, auth, canary, daemon, clock) -> None:
    post_windows(api, auth, canary["id"], baseline_windows(T0, seed=2))
    stream = healthy_stream(T0, days=2, seed=11, baseline=False)
    post_until(api, auth, clock, canary["id"], stream, T0 + timedelta(days=2))
    assert daemon.tick().aborted == []


def test_failing_webhook_is_retried_and_never_blocks_the_rollback(
    api, auth, db, settings, canary, daemon, clock
) -> None:
    from tests.promotion.conftest import Receiver

    flaky = Receiver(fail_first=2)
    try:
        settings.pagerduty_url, settings.slack_webhook_url = f"{flaky.url}/pd", None
        abort_with(
            api,
            auth,
            canary,
            daemon,
            clock,
            regression=Regression("latency_p99", timedelta(hours=12), timedelta(minutes=30), 3.0),
        )
        assert routing(api, auth) == [("champion", 1.0)]  # before any delivery attempt
        import httpx

        with httpx.Client() as http:
            first = deliver_due(db, now=clock.now(), http=http)
            assert (first.delivered, first.failed) == (0, 1) and "HTTP 500" in first.errors[0]
            assert deliver_due(db, now=clock.now(), http=http).delivered == 0  # backing off
            clock.advance(timedelta(seconds=3))
            assert deliver_due(db, now=clock.now(), http=http).failed == 1
            clock.advance(timedelta(seconds=5))
            assert deliver_due(db, now=clock.now(), http=http).delivered == 1
        with db.session() as session:
            message = session.scalar(select(OutboxMessage))
        assert (message.status, message.attempts) == ("delivered", 3)
        assert len(flaky.bodies) == 1
    finally:
        flaky.close()


# --- evidence: a stage never passes on time alone --------------------------------------------------


def thin_windows(days: float, *, canary_requests: int = 20, canary_errors: int = 2) -> list[Window]:
    """A canary that gets a trickle (below min_requests every window) against a busy holdout at 0.6 %."""
    out = []
    for i in range(int(days * 288)):
        start = T0 + timedelta(minutes=5 * i)
        end = start + timedelta(minutes=5)
        out.append(Window(start, end, "canary", canary_requests, canary_errors, 150.0))
        out.append(Window(start, end, "holdout", 2000, 12, 150.0))
    return out


def outbox_summaries(db) -> list[str]:  # noqa: ANN001
    with db.session() as session:
        return [
            m.payload.get("payload", {}).get("summary", "") for m in session.scalars(select(OutboxMessage))
        ]


def starved_then_aborted(api, auth, db, settings, canary, shadowed, champion, daemon, clock) -> dict:  # noqa: ANN001
    """Time up: held at 1 % and shown starved; at the progress deadline: insufficient_evidence abort."""
    settings.pagerduty_url = "http://127.0.0.1:9/pd"
    clock.set(T0 + timedelta(days=7, hours=1))
    report = daemon.tick()
    assert report.starved == [canary["id"]] and not report.advanced and not report.aborted, report
    assert routing(api, auth) == [("champion", 0.99), ("canary", 0.01)]
    held = api.get(f"/v1/canaries/{canary['id']}", headers=auth("ci")).json()
    evidence = held["evidence"]
    assert held["state"] == "running" and held["stage"] == 0 and held["share"] == 0.01
    assert evidence["starved"] is True and evidence["due"] is True and evidence["enough"] is False
    assert evidence["windows_evaluable"] == 0 and evidence["canary_requests"] == 0
    assert evidence["need_windows"] >= 2
    assert evidence["deadline"].startswith((T0 + timedelta(days=8)).date().isoformat())
    clock.set(T0 + timedelta(days=7, hours=23, minutes=55))
    assert daemon.tick().starved == [canary["id"]]  # still before the deadline: held, not aborted
    clock.set(T0 + timedelta(days=8, minutes=1))
    assert daemon.tick().aborted == [canary["id"]]
    aborted = api.get(f"/v1/canaries/{canary['id']}", headers=auth("ci")).json()
    assert aborted["state"] == "aborted" and aborted["trigger"]["rule"] == "insufficient_evidence"
    assert aborted["evidence"] is None and aborted["trigger"]["figures"]["windows_evaluable"] == 0
    assert routing(api, auth) == [("champion", 1.0)]
    assert status(api, auth, shadowed["id"]) == "aborted" and status(api, auth, champion["id"]) == "champion"
    decision = api.get(f"/v1/candidates/{shadowed['id']}/decisions", headers=auth("ci")).json()[-1]
    assert decision["verdict"] == "abort"
    assert decision["reasons"][0]["check"] == "canary.insufficient_evidence"
    audit = api.get("/v1/audit", params={"action": "canary.abort"}, headers=auth("ci")).json()
    assert audit and audit[0]["after"]["rule"] == "insufficient_evidence"
    pages = outbox_summaries(db)
    assert len(pages) == 1 and "insufficient_evidence" in pages[0] and "0 of" in pages[0]
    refused = api.post(
        f"/v1/canaries/{canary['id']}/reenable", json={"reason": "try again"}, headers=auth("oncall")
    )
    assert refused.status_code == 409 and "nothing to re-check" in refused.json()["detail"]
    assert refused.json()["rule"] == "insufficient_evidence"
    clock.set(T0 + timedelta(days=30))
    assert daemon.tick().advanced == []
    assert status(api, auth, shadowed["id"]) == "aborted"  # never champion
    return aborted


def test_starved_canary_is_held_then_aborted_for_insufficient_evidence(
    api, auth, db, settings, canary, shadowed, champion, daemon, clock
) -> None:
    post_windows(api, auth, canary["id"], baseline_windows(T0, seed=2))  # a baseline, no canary windows
    aborted = starved_then_aborted(api, auth, db, settings, canary, shadowed, champion, daemon, clock)
    figures = aborted["trigger"]["figures"]
    assert figures["windows_received"] == 0 and figures["need_requests"] is None  # no holdout either


def test_thin_canary_is_held_then_aborted_for_insufficient_evidence(
    api, auth, db, settings, canary, shadowed, champion, daemon, clock
) -> None:
    post_until(api, auth, clock, canary["id"], thin_windows(7.05), T0 + timedelta(days=7, hours=1))
    aborted = starved_then_aborted(api, auth, db, settings, canary, shadowed, champion, daemon, clock)
    figures = aborted["trigger"]["figures"]
    assert figures["windows_received"] == 7 * 288 + 12  # received, but none is evidence
    assert figures["holdout_error_rate"] == pytest.approx(0.006)
    # At the holdout's 0.6 % the derived need: 1,511 canary requests over >= 31 windows of 50.
    assert figures["need_requests"] == requests_for_power(0.006, 2.0, 0.05, 0.8)
    assert figures["need_windows"] == -(-figures["need_requests"] // 50)


def test_force_reenable_of_a_starved_abort_is_admin_only(
    api, auth, db, settings, canary, shadowed, champion, daemon, clock
) -> None:
    starved_then_aborted(api, auth, db, settings, canary, shadowed, champion, daemon, clock)
    forced = {"reason": "traffic restored", "force": True}
    assert (
        api.post(f"/v1/canaries/{canary['id']}/reenable", json=forced, headers=auth("oncall")).status_code
        == 403
    )
    ok = api.post(f"/v1/canaries/{canary['id']}/reenable", json=forced, headers=auth("admin"))
    assert ok.status_code == 200 and ok.json()["state"] == "running"
    # The stage starts over (its time went by with no evidence): not aborted again at the next tick.
    assert ok.json()["stage_started_at"].startswith(clock.now().date().isoformat())
    clock.advance(timedelta(minutes=5))
    assert daemon.tick().aborted == [] and routing(api, auth) == [("champion", 0.99), ("canary", 0.01)]


def test_a_stage_held_for_evidence_passes_when_the_evidence_arrives(
    api, auth, db, canary, shadowed, daemon, clock
) -> None:
    clock.set(T0 + timedelta(days=7, hours=1))
    assert daemon.tick().starved == [canary["id"]]
    late = T0 + timedelta(days=7, hours=2)
    post_until(
        api,
        auth,
        clock,
        canary["id"],
        healthy_stream(late, days=0.5, seed=7, baseline=False),
        late + timedelta(hours=12),
    )
    report = daemon.tick()
    assert report.aborted == [] and report.advanced, report
    moved = api.get(f"/v1/canaries/{canary['id']}", headers=auth("ci")).json()
    assert moved["stage"] == 1 and routing(api, auth) == [("champion", 0.95), ("canary", 0.05)]
    # The next stage starts when the evidence was complete, not at the old stage's scheduled end.
    assert moved["stage_started_at"] > (T0 + timedelta(days=7, hours=2)).isoformat()[:19]
    assert moved["evidence"]["since"] == moved["stage_started_at"]


def test_daemon_tick_interval_is_the_policy_tick_minutes(canary, daemon) -> None:  # noqa: ANN001
    assert daemon.tick_seconds() == 5 * 60  # the policy model's default before any policy is read
    daemon.tick()
    assert daemon.tick_seconds() == 60 * 5  # policies/intent_classifier.yaml: canary.tick_minutes 5


def test_a_tick_reads_the_windows_posted_since_the_last_one_on_a_manual_clock(
    api, auth, clock, canary, daemon
) -> None:  # noqa: ANN001
    """``received_at`` and the daemon's reads follow the injected clock: replaying days on a manual clock,
    a tick reads the last tick's windows again (the commit margin) and the new ones, not every window
    posted in the last two minutes of real time (what made the demo's 5-minute ticks slow down)."""
    windows = healthy_stream(T0, days=0.25, seed=3)
    reads = []
    for k in range(1, 10):
        post_until(api, auth, clock, canary["id"], windows, T0 + timedelta(minutes=5 * k))
        reads.append(daemon.tick().rows_read)
    assert reads[2:] == [4] * 7  # a canary and a holdout window now, and the two of the tick before
