"""Shadow mode: a stage that ends. Records in (append-only, dated inside the shadow), a verdict taken once
on server time, and a failed shadow that ends the candidate."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import select

from gatekeeper.notify.models import OutboxMessage
from gatekeeper.policy.schema import ShadowPolicy
from gatekeeper.promotion.shadow import Columns, summarise
from tests.conftest import snapshot
from tests.promotion.conftest import T0, gate_pass, shadow_records

POLICY = ShadowPolicy(min_hours=24, max_hours=72, min_agreement=0.9, max_p99_ratio=1.3)


def cols(
    n: int,
    *,
    hours: float = 25,
    agree: float = 0.97,
    champ_ms: float = 10.0,
    cand_ms: float = 10.0,
    champ_err: int = 0,
    cand_err: int = 0,
) -> Columns:
    rng = np.random.default_rng(0)
    return Columns(
        ts=np.linspace(0, hours * 3600, n),
        agree=(rng.random(n) < agree).astype(float),
        champion_latency=np.full(n, champ_ms),
        candidate_latency=np.full(n, cand_ms),
        champion_error=np.arange(n) < champ_err,
        candidate_error=np.arange(n) < cand_err,
        slices=[{"lang": "ja" if i % 2 else "en"} for i in range(n)],
    )


# --- the pure verdict ---------------------------------------------------------------------------


def test_passes_only_after_min_hours_of_server_time() -> None:
    assert summarise(cols(1000), POLICY, elapsed_hours=23.5)["verdict"] == "pending"
    passed = summarise(cols(1000), POLICY, elapsed_hours=24.0)
    assert passed["verdict"] == "pass" and {s["slice"] for s in passed["per_slice"]} == {"lang=en", "lang=ja"}


def test_record_timestamps_do_not_count_as_shadow_time() -> None:
    """Records spanning 100 h say nothing about how long the shadow has run."""
    assert summarise(cols(1000, hours=100), POLICY, elapsed_hours=1.0)["verdict"] == "pending"


def test_too_few_records_wait_until_max_hours_then_fail() -> None:
    assert summarise(cols(99), POLICY, elapsed_hours=71.9)["verdict"] == "pending"
    timed_out = summarise(cols(99), POLICY, elapsed_hours=72.0)
    assert (
        timed_out["verdict"] == "fail" and "no verdict by max_hours: 99 record(s)" in timed_out["reasons"][0]
    )
    assert summarise(cols(100), POLICY, elapsed_hours=72.0)["verdict"] == "pass"


def test_min_records_is_a_policy_key() -> None:
    policy = POLICY.model_copy(update={"min_records": 500})
    assert summarise(cols(499), policy, elapsed_hours=30)["verdict"] == "pending"
    assert summarise(cols(500), policy, elapsed_hours=30)["verdict"] == "pass"


@pytest.mark.parametrize(("cand_ms", "verdict"), [(13.0, "pass"), (13.01, "fail")])
def test_p99_limit_is_130_percent_of_the_champion(cand_ms: float, verdict: str) -> None:
    result = summarise(cols(1000, champ_ms=10.0, cand_ms=cand_ms), POLICY, elapsed_hours=25)
    assert result["verdict"] == verdict
    assert result["candidate_p99_ms"] == pytest.approx(cand_ms)


def test_low_agreement_is_judged_at_min_hours_not_before() -> None:
    assert summarise(cols(1000, agree=0.8), POLICY, elapsed_hours=2)["verdict"] == "pending"
    result = summarise(cols(1000, agree=0.8), POLICY, elapsed_hours=24)
    assert (
        result["verdict"] == "fail" and result["reasons"][0] == f"agreement {result['agreement']:.3f} < 0.9"
    )


def test_error_rate_must_not_be_significantly_worse() -> None:
    assert summarise(cols(2000, champ_err=10, cand_err=14), POLICY, elapsed_hours=25)["verdict"] == "pass"
    worse = summarise(cols(2000, champ_err=10, cand_err=40), POLICY, elapsed_hours=25)
    assert worse["verdict"] == "fail" and "Fisher" in worse["reasons"][0]


def _one_bad_slice(n_ja: int, n_en: int = 1000) -> Columns:
    """Every en record agrees; half the ja records do not."""
    agree = np.array([1.0] * n_en + [float(i % 2) for i in range(n_ja)])
    n = n_en + n_ja
    return Columns(
        ts=np.zeros(n),
        agree=agree,
        champion_latency=np.full(n, 10.0),
        candidate_latency=np.full(n, 10.0),
        champion_error=np.zeros(n, dtype=bool),
        candidate_error=np.zeros(n, dtype=bool),
        slices=[{"lang": "en"}] * n_en + [{"lang": "ja"}] * n_ja,
    )


def test_a_slice_below_its_floor_fails_the_shadow_naming_it() -> None:
    failed = summarise(_one_bad_slice(60), POLICY, elapsed_hours=25)  # overall agreement 0.972
    assert failed["agreement"] > POLICY.min_agreement
    assert failed["verdict"] == "fail"
    assert failed["reasons"] == ["slice lang=ja: agreement 0.500 < 0.8 on 60 records"]


def test_a_slice_with_too_little_support_is_not_judged() -> None:
    assert summarise(_one_bad_slice(49), POLICY, elapsed_hours=25)["verdict"] == "pass"
    stricter = POLICY.model_copy(update={"slice_min_support": 40})
    assert summarise(_one_bad_slice(49), stricter, elapsed_hours=25)["verdict"] == "fail"


# --- through the API and the daemon, on the manual clock --------------------------------------------


def _start(api, auth, register, db, clock, *, at=T0) -> str:  # noqa: ANN001
    candidate = register()
    gate_pass(db, candidate["id"])
    clock.set(at)
    assert api.post(f"/v1/candidates/{candidate['id']}/shadow", headers=auth("ci")).status_code == 200
    return candidate["id"]


def _post(api, auth, cid: str, records: list[dict]):  # noqa: ANN001, ANN202
    return api.post(
        f"/v1/candidates/{cid}/shadow/records", json={"records": records}, headers=auth("serving")
    )


def _decisions(api, auth, cid: str) -> list[dict]:  # noqa: ANN001
    return api.get(f"/v1/candidates/{cid}/decisions", headers=auth("ci")).json()


def _status(api, auth, cid: str) -> str:  # noqa: ANN001
    return api.get(f"/v1/candidates/{cid}", headers=auth("ci")).json()["status"]


def test_a_failing_shadow_ends_in_failed_promotion(
    api, auth, register, db, champion, clock, daemon, settings, receiver
) -> None:
    settings.slack_webhook_url = f"{receiver.url}/slack"
    cid = _start(api, auth, register, db, clock)
    verdicts = []
    for hour in range(10, 90, 10):  # 208 records over 80 h, 26 every 10 h, half of them disagreeing
        clock.set(T0 + timedelta(hours=hour))
        batch = [
            {**r, "request_id": f"h{hour}-{i}", "candidate_prediction": "faq" if i % 2 else "chitchat"}
            for i, r in enumerate(shadow_records(26, hours=10, start=clock.now()))
        ]
        response = _post(api, auth, cid, batch)
        verdicts.append((response.status_code, response.json().get("verdict")))
    # judged once 24 h have passed and 100 records are in (at 40 h); every later batch is refused
    assert verdicts == [(200, "pending")] * 3 + [(200, "fail")] + [(409, "fail")] * 4
    assert _status(api, auth, cid) == "failed_promotion"
    daemon.tick()  # nothing left to judge
    shadow_decisions = [d for d in _decisions(api, auth, cid) if d["stage"] == "shadow"]
    assert [d["verdict"] for d in shadow_decisions] == ["fail"]
    assert "agreement 0.500 < 0.9" in shadow_decisions[0]["reasons"][0]["message"]
    assert shadow_decisions[0]["details"]["n"] == 104 and shadow_decisions[0]["details"]["hours"] == 40
    audit = api.get("/v1/audit", params={"action": "shadow.fail", "entity": cid}, headers=auth("ci")).json()
    assert len(audit) == 1 and audit[0]["actor"] == "system"
    with db.session() as session:
        message = session.scalar(select(OutboxMessage).where(OutboxMessage.source == f"shadow:{cid}"))
    assert message.channel == "slack" and "Shadow failed" in message.payload["text"]
    assert "agreement 0.500" in message.payload["text"]
    refused = api.post(f"/v1/candidates/{cid}/canary", headers=auth("ci"))
    assert refused.status_code == 409 and refused.json()["current_status"] == "failed_promotion"
    agreeing = _post(api, auth, cid, shadow_records(1000, hours=1, start=clock.now()))
    assert agreeing.status_code == 409 and agreeing.json()["verdict"] == "fail"
    assert "shadow ended with verdict fail" in agreeing.json()["detail"]


def test_the_daemon_takes_a_due_verdict_each_tick(api, auth, register, db, champion, clock, daemon) -> None:
    cid = _start(api, auth, register, db, clock)
    clock.set(T0 + timedelta(hours=10))
    assert (
        _post(api, auth, cid, shadow_records(208, hours=10, agree=0.5, start=clock.now())).status_code == 200
    )
    clock.set(T0 + timedelta(hours=23.9))
    daemon.tick()
    assert _status(api, auth, cid) == "shadow"
    clock.set(T0 + timedelta(hours=24))
    daemon.tick()
    assert _status(api, auth, cid) == "failed_promotion"
    (decision,) = [d for d in _decisions(api, auth, cid) if d["stage"] == "shadow"]
    assert decision["verdict"] == "fail" and decision["actor"] == daemon.actor
    summary = api.get(f"/v1/candidates/{cid}/shadow", headers=auth("reviewer")).json()
    assert summary["verdict"] == "fail" and summary["ended_at"].startswith("2026-11-03T00:00")


def test_a_shadow_without_enough_records_by_max_hours_fails(
    api, auth, register, db, champion, clock, daemon
) -> None:
    cid = _start(api, auth, register, db, clock)
    clock.set(T0 + timedelta(hours=30))
    assert (
        _post(api, auth, cid, shadow_records(99, hours=30, start=clock.now())).json()["verdict"] == "pending"
    )
    clock.set(T0 + timedelta(hours=71.99))
    daemon.tick()
    assert _status(api, auth, cid) == "shadow"
    clock.set(T0 + timedelta(hours=72))
    daemon.tick()
    assert _status(api, auth, cid) == "failed_promotion"
    (decision,) = [d for d in _decisions(api, auth, cid) if d["stage"] == "shadow"]
    assert decision["reasons"][0]["message"].startswith("no verdict by max_hours: 99 record(s) in 72.0 h")


def test_back_dated_records_do_not_make_shadow_time(api, auth, register, db, champion, clock) -> None:
    cid = _start(api, auth, register, db, clock)
    back_dated = _post(api, auth, cid, shadow_records(300, hours=25, start=T0))  # 25 h before the start
    assert back_dated.status_code == 422 and back_dated.json()["field"] == "records.0.ts"
    clock.set(T0 + timedelta(hours=1))
    assert _post(api, auth, cid, shadow_records(300, hours=1, start=clock.now())).status_code == 200
    refused = api.post(f"/v1/candidates/{cid}/canary", headers=auth("ci"))
    assert refused.status_code == 409 and "shadow has not passed (pending)" in refused.json()["detail"]
    assert refused.json()["shadow"]["hours"] == 1.0
    clock.set(T0 + timedelta(hours=24))  # no daemon: the canary start takes the verdict itself
    started = api.post(f"/v1/candidates/{cid}/canary", headers=auth("ci"))
    assert started.status_code == 201, started.text
    verdicts = [(d["stage"], d["verdict"]) for d in _decisions(api, auth, cid)]
    assert verdicts == [("offline", "pass"), ("shadow", "pass")]


def test_a_slice_below_its_floor_fails_through_the_api(api, auth, register, db, champion, clock) -> None:
    cid = _start(api, auth, register, db, clock, at=T0 - timedelta(hours=25))
    clock.set(T0)
    records = shadow_records(1200, hours=25, start=T0)
    for i, r in enumerate(records):
        r["lang"] = "ja" if i % 12 == 1 else "en"
        if r["lang"] == "ja":
            r["candidate_prediction"] = "faq" if (i // 12) % 2 else "chitchat"
    response = _post(api, auth, cid, records)
    assert response.status_code == 200 and response.json()["verdict"] == "fail"
    (decision,) = [d for d in _decisions(api, auth, cid) if d["stage"] == "shadow"]
    assert decision["details"]["agreement"] > 0.9
    assert [r["message"] for r in decision["reasons"]] == [
        "slice lang=ja: agreement 0.500 < 0.8 on 100 records"
    ]
    assert _status(api, auth, cid) == "failed_promotion"


def test_a_passed_shadow_takes_no_more_records(api, auth, shadowed) -> None:
    more = _post(api, auth, shadowed["id"], shadow_records(10, hours=1, agree=0.0, start=T0))
    assert more.status_code == 409 and more.json()["verdict"] == "pass"
    summary = api.get(f"/v1/candidates/{shadowed['id']}/shadow", headers=auth("reviewer")).json()
    assert summary["n"] == 300 and summary["verdict"] == "pass" and summary["hours"] == 25


def test_records_are_append_only(api, auth, register, db, champion, clock) -> None:
    cid = _start(api, auth, register, db, clock)
    clock.set(T0 + timedelta(hours=1))
    records = shadow_records(50, hours=1, start=clock.now())
    assert _post(api, auth, cid, records).json() == {"accepted": 50, "repeats": 0, "verdict": "pending"}
    again = _post(api, auth, cid, records[:20] + shadow_records(60, hours=1, start=clock.now())[50:])
    assert again.status_code == 200 and again.json() == {"accepted": 10, "repeats": 20, "verdict": "pending"}
    assert api.get(f"/v1/candidates/{cid}/shadow", headers=auth("reviewer")).json()["n"] == 60
    before = snapshot(db)
    rewritten = [{**records[3], "candidate_prediction": "chitchat"}]
    refused = _post(api, auth, cid, rewritten)
    assert refused.status_code == 409 and refused.json()["request_id"] == "r3"
    after = snapshot(db)
    assert {t: rows for t, rows in after.items() if not t.startswith("audit_")} == {
        t: rows for t, rows in before.items() if not t.startswith("audit_")
    }
    kept = api.get(
        "/v1/audit", params={"action": "shadow.record_rewrite_refused", "entity": cid}, headers=auth("ci")
    ).json()
    assert len(kept) == 1 and kept[0]["actor"] == "serving"
    assert kept[0]["before"]["candidate_prediction"] == "faq"
    assert kept[0]["after"]["candidate_prediction"] == "chitchat"
    twice = [records[0], {**records[0], "candidate_latency_ms": 99.0}]  # a rewrite inside one batch
    assert _post(api, auth, cid, twice).status_code == 409


@pytest.mark.parametrize(
    ("offset", "code"),
    [
        (timedelta(seconds=-300), 200),  # the start, less the allowed skew
        (timedelta(seconds=-301), 422),
        (timedelta(hours=2, seconds=300), 200),  # now, plus the allowed skew
        (timedelta(hours=2, seconds=301), 422),
    ],
)
def test_timestamps_outside_the_shadow_are_refused(
    api, auth, register, db, champion, clock, offset: timedelta, code: int
) -> None:
    cid = _start(api, auth, register, db, clock)
    clock.set(T0 + timedelta(hours=2))
    record = {
        **shadow_records(1, hours=1, start=clock.now())[0],
        "request_id": "edge",
        "ts": (T0 + offset).isoformat(),
    }
    response = _post(
        api, auth, cid, [shadow_records(1, hours=1, start=clock.now())[0] | {"request_id": "ok"}, record]
    )
    assert response.status_code == code, response.text
    if code == 422:
        assert response.json()["field"] == "records.1.ts" and "'edge'" in response.json()["detail"]


def test_shadow_needs_a_champion_and_a_passed_gate(api, auth, register, db, target) -> None:
    candidate = register()
    assert api.post(f"/v1/candidates/{candidate['id']}/shadow", headers=auth("ci")).status_code == 409
    gate_pass(db, candidate["id"])
    refused = api.post(f"/v1/candidates/{candidate['id']}/shadow", headers=auth("ci"))
    assert refused.status_code == 409 and "no champion" in refused.json()["detail"]


def test_bad_rows_are_refused_and_change_nothing(api, auth, register, db, champion, clock) -> None:
    cid = _start(api, auth, register, db, clock)
    clock.set(T0 + timedelta(hours=1))
    before = snapshot(db)
    bad = shadow_records(2, hours=1, start=clock.now())
    bad[1]["candidate_latency_ms"] = -3
    response = _post(api, auth, cid, bad)
    assert (
        response.status_code == 422
        and response.json()["errors"][0]["field"] == "records.1.candidate_latency_ms"
    )
    naive = shadow_records(1, hours=1, start=clock.now())
    naive[0]["ts"] = "2026-11-02T00:30:00"
    assert _post(api, auth, cid, naive).status_code == 422
    assert snapshot(db) == before


def test_routing_lists_the_shadow_with_weight_zero(api, auth, shadowed, champion) -> None:
    routes = api.get("/v1/targets/intent_classifier/routing", headers=auth("ci")).json()["routes"]
    assert [(r["role"], r["weight"]) for r in routes] == [("champion", 1.0), ("shadow", 0.0)]
