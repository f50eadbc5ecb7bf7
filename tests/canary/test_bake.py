"""The bake after full promotion, with the daemon on a manual clock: a healthy new champion bakes and
passes (the previous champion leaves routing); a breach during the bake rolls back to the previous champion
automatically, pages, and records the rollback time against the SLA; a bake without windows never passes."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from gatekeeper.canary import bake
from gatekeeper.canary.simulate import Regression, healthy_stream
from gatekeeper.canary.windows import WindowCache
from gatekeeper.notify.models import OutboxMessage
from tests.canary.conftest import post_until
from tests.promotion.conftest import T0, gate_pass, run_shadow

PROMOTED = T0 + timedelta(days=17)


def routing(api, auth) -> list[tuple[str, float]]:  # noqa: ANN001
    data = api.get("/v1/targets/intent_classifier/routing", headers=auth("reviewer")).json()
    assert sum(r["weight"] for r in data["routes"]) == pytest.approx(1.0)
    return [(r["role"], r["weight"]) for r in data["routes"]]


def status(api, auth, cid: str) -> str:  # noqa: ANN001
    return api.get(f"/v1/candidates/{cid}", headers=auth("ci")).json()["status"]


def promote(api, auth, canary, daemon, clock, lookback_s: int | None = None) -> dict:  # noqa: ANN001
    """Healthy stages to 100 %: the canary bakes with the previous champion kept warm. ``lookback_s``: the
    daemon's window cache holds only that much when it promotes (less than the bake's reference day)."""
    stream = healthy_stream(T0, days=17, seed=3)
    if lookback_s is not None:  # the cache's last read is of the 2 h before promotion
        post_until(api, auth, clock, canary["id"], stream, PROMOTED - timedelta(hours=2))
        daemon._cache = WindowCache(lookback_s)
        daemon.tick()
    post_until(api, auth, clock, canary["id"], stream, PROMOTED + timedelta(minutes=5))
    assert daemon.tick().advanced
    return api.get(f"/v1/canaries/{canary['id']}", headers=auth("ci")).json()


def bake_windows(api, auth, clock, canary, until, **stream) -> None:  # noqa: ANN001
    """The serving layer keeps posting canary windows for the new champion to the same canary, each as it
    closes: the clock moves to ``until`` and what has ended by then is posted."""
    windows = [
        w for w in healthy_stream(PROMOTED, days=1, seed=21, baseline=False, **stream) if w.group == "canary"
    ]
    post_until(api, auth, clock, canary["id"], windows, until)


def test_healthy_champion_bakes_then_passes(api, auth, canary, shadowed, champion, daemon, clock) -> None:
    baking = promote(api, auth, canary, daemon, clock)
    assert baking["state"] == "baking" and baking["finished_at"] is None and baking["share"] == 1.0
    assert baking["bake_until"].startswith((PROMOTED + timedelta(hours=24)).date().isoformat())
    assert status(api, auth, shadowed["id"]) == "champion" and status(api, auth, champion["id"]) == "retired"
    assert routing(api, auth) == [("champion", 1.0), ("previous", 0.0)]
    bake_windows(api, auth, clock, canary, PROMOTED + timedelta(hours=12))
    assert daemon.tick().baked == []  # judged, nothing to change before the end
    bake_windows(api, auth, clock, canary, PROMOTED + timedelta(hours=24, minutes=10))
    report = daemon.tick()
    assert report.baked == [f"{canary['id']}: bake passed"], report
    done = api.get(f"/v1/canaries/{canary['id']}", headers=auth("ci")).json()
    assert done["state"] == "passed" and done["finished_at"]
    assert routing(api, auth) == [("champion", 1.0)]
    verdicts = [
        (d["stage"], d["verdict"])
        for d in api.get(f"/v1/candidates/{shadowed['id']}/decisions", headers=auth("ci")).json()
    ]
    assert verdicts[-2:] == [("full", "promote"), ("bake", "pass")]
    assert api.get("/v1/audit", params={"action": "canary.bake_pass"}, headers=auth("ci")).json()


def test_breach_during_the_bake_rolls_back_pages_and_times_it(
    api, auth, db, settings, canary, shadowed, champion, daemon, clock
) -> None:
    settings.pagerduty_url = "http://pagerduty.invalid/pd"
    promote(api, auth, canary, daemon, clock)
    regression = Regression("error_rate", timedelta(hours=6), timedelta(hours=1), 4.0)
    bake_windows(api, auth, clock, canary, PROMOTED + timedelta(hours=8), regression=regression)
    report = daemon.tick()
    assert len(report.baked) == 1 and "rolled back" in report.baked[0], report
    assert status(api, auth, shadowed["id"]) == "failed_promotion"
    assert status(api, auth, champion["id"]) == "champion"
    assert routing(api, auth) == [("champion", 1.0)]
    assert (
        api.get("/v1/targets/intent_classifier/routing", headers=auth("ci")).json()["routes"][0][
            "candidate_id"
        ]
        == champion["id"]
    )
    done = api.get(f"/v1/canaries/{canary['id']}", headers=auth("ci")).json()
    assert done["state"] == "rolled_back"
    decision = api.get(f"/v1/candidates/{shadowed['id']}/decisions", headers=auth("ci")).json()[-1]
    assert (decision["stage"], decision["verdict"]) == ("bake", "rollback")
    assert (
        decision["reasons"][0]["check"] == "bake.error_rate" and decision["reasons"][0]["severity"] == "hard"
    )
    assert decision["details"]["evidence"]["rule"] == "error_rate"
    timing = decision["details"]["rollback"]
    assert timing["sla_seconds"] == 60 and timing["within_sla"] is True and 0 < timing["seconds"] < 60
    assert timing["measured_from"] == "daemon_judging"
    assert api.get("/v1/audit", params={"action": "canary.bake_rollback"}, headers=auth("ci")).json()
    with db.session() as session:
        pages = list(session.scalars(select(OutboxMessage)))
    assert len(pages) == 1 and "Bake rollback" in str(pages[0].payload)
    assert daemon.tick().baked == []  # done once


def test_the_bake_reads_its_reference_day_past_what_the_daemon_held(
    api, auth, seed_rules, canary, shadowed, champion, daemon, clock
) -> None:
    """The daemon's cache held the last hour when it promoted; the bake's reference is the day before
    promotion. Judged on what the cache held, the breach at hour 6 has no reference window to meet and
    goes unseen; read again from the reference day, it rolls back."""
    promote(api, auth, canary, daemon, clock, lookback_s=3600)
    assert daemon._cache.held_from[uuid.UUID(canary["id"])] > bake.reference_since(PROMOTED)
    regression = Regression("error_rate", timedelta(hours=6), timedelta(hours=1), 4.0)
    bake_windows(api, auth, clock, canary, PROMOTED + timedelta(hours=8), regression=regression)
    report = daemon.tick()
    assert len(report.baked) == 1 and "rolled back" in report.baked[0], report
    assert status(api, auth, champion["id"]) == "champion"


def test_bake_without_windows_never_passes(api, auth, canary, shadowed, champion, daemon, clock) -> None:
    promote(api, auth, canary, daemon, clock)
    clock.set(PROMOTED + timedelta(hours=24))  # the end, but not the late-evidence allowance
    assert daemon.tick().baked == []
    clock.set(PROMOTED + timedelta(hours=24, minutes=10))
    report = daemon.tick()
    assert len(report.baked) == 1 and "no evidence" in report.baked[0], report
    assert status(api, auth, champion["id"]) == "champion"
    assert status(api, auth, shadowed["id"]) == "failed_promotion"
    decision = api.get(f"/v1/candidates/{shadowed['id']}/decisions", headers=auth("ci")).json()[-1]
    assert decision["reasons"][0]["check"] == "bake.no_evidence"
    assert "24 of 24 bake hour(s)" in decision["details"]["evidence"]["missing"]


def test_windows_are_taken_while_baking_and_refused_after(api, auth, canary, daemon, clock) -> None:
    promote(api, auth, canary, daemon, clock)
    bake_windows(api, auth, clock, canary, PROMOTED + timedelta(hours=2))
    on_call = {"reason": "business metric soured"}
    rolled = api.post("/v1/targets/intent_classifier/rollback", json=on_call, headers=auth("oncall"))
    assert rolled.status_code == 200, rolled.text
    done = api.get(f"/v1/canaries/{canary['id']}", headers=auth("ci")).json()
    assert done["state"] == "rolled_back" and routing(api, auth) == [("champion", 1.0)]
    decision = api.get(
        f"/v1/candidates/{rolled.json()['rolled_back']['id']}/decisions", headers=auth("ci")
    ).json()[-1]
    assert decision["details"]["rollback"]["measured_from"] == "request"
    assert decision["details"]["rollback"]["within_sla"] is True
    late = healthy_stream(PROMOTED + timedelta(days=1), days=0.01, seed=2, baseline=False)
    refused = api.post(
        f"/v1/canaries/{canary['id']}/metrics",
        json={"windows": [late[0].to_dict()]},
        headers=auth("serving"),
    )
    assert refused.status_code == 409


def test_uncovered_hours_and_sla_verdicts() -> None:
    from gatekeeper.registry.service import rollback_timing

    assert bake.uncovered_hours([0, 300, 7200], 0, 3 * 3600) == [1]
    assert bake.uncovered_hours([], 0, 1800) == [0]
    assert bake.bake_until(0, PROMOTED, has_previous=True) is None
    assert bake.bake_until(24, PROMOTED, has_previous=False) is None
    fast, none = rollback_timing(0.5, 60, measured_from="request")
    slow, late = rollback_timing(61.0, 60, measured_from="request")
    assert fast["within_sla"] and none == []
    assert not slow["within_sla"] and late[0]["severity"] == "soft" and "over" in late[0]["message"]


@pytest.mark.usefixtures("seed_rules")
def test_auto_abort_records_the_rollback_time_against_the_sla(
    api, auth, canary, shadowed, daemon, clock
) -> None:
    regression = Regression("error_rate", timedelta(hours=12), timedelta(minutes=40), 4.0)
    stream = healthy_stream(T0, days=1, seed=5, regression=regression)
    post_until(api, auth, clock, canary["id"], stream, T0 + timedelta(days=1))
    assert daemon.tick().aborted == [canary["id"]]
    decision = api.get(f"/v1/candidates/{shadowed['id']}/decisions", headers=auth("ci")).json()[-1]
    timing = decision["details"]["rollback"]
    assert decision["verdict"] == "abort" and timing["measured_from"] == "daemon_judging"
    assert timing["within_sla"] is (timing["seconds"] <= timing["sla_seconds"] == 60)
    assert [r["check"] for r in decision["reasons"]] == [
        "canary.error_rate"
    ]  # within the SLA: no soft reason


def test_no_new_canary_starts_while_the_champion_bakes(
    api, auth, db, register, canary, daemon, clock
) -> None:
    promote(api, auth, canary, daemon, clock)
    successor = register()
    gate_pass(db, successor["id"])
    assert run_shadow(api, auth, clock, successor["id"])["verdict"] == "pass"
    refused = api.post(f"/v1/candidates/{successor['id']}/canary", headers=auth("ci"))
    assert refused.status_code == 409, refused.text
    assert "baking" in refused.json()["detail"] and refused.json()["canary_id"] == canary["id"]
    assert status(api, auth, successor["id"]) == "shadow"  # it waits, nothing else changed


def test_every_rule_s_trigger_is_described_for_on_call() -> None:
    """A bake breach is told in one line whatever rule fired: the sequential rule's figures are its
    test's (no per-window rates), and describing them once crashed the daemon's tick mid-rollback."""
    from gatekeeper.canary.rules import evaluate
    from tests.canary.test_rules import BAD_ERR, RULES, SEQUENTIAL, only, stream

    [seq] = only(evaluate(stream(24, {i: {"errors": 20} for i in range(24)}), SEQUENTIAL), "sequential")
    [err] = only(evaluate(stream(6, {2: BAD_ERR, 3: BAD_ERR}), RULES), "error_rate")
    assert bake.describe(seq).startswith("bake sequential/error_ratio: new champion against the previous")
    assert "confidence sequence" in bake.describe(seq)
    assert bake.describe(err).startswith("bake error_rate: new champion error rate ")
