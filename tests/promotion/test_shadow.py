"""Shadow mode: records in, agreement/latency/error summary and verdict out."""

from __future__ import annotations

import numpy as np
import pytest

from gatekeeper.policy.schema import ShadowPolicy
from gatekeeper.promotion.shadow import Columns, summarise
from tests.conftest import snapshot
from tests.promotion.conftest import gate_pass, shadow_records

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


def test_passes_only_after_min_hours() -> None:
    assert summarise(cols(1000, hours=23.5), POLICY)["verdict"] == "pending"
    passed = summarise(cols(1000, hours=24.0), POLICY)
    assert passed["verdict"] == "pass" and {s["slice"] for s in passed["per_slice"]} == {"lang=en", "lang=ja"}


def test_too_few_records_are_not_judged() -> None:
    assert summarise(cols(50, agree=0.2), POLICY)["verdict"] == "pending"


@pytest.mark.parametrize(("cand_ms", "verdict"), [(13.0, "pass"), (13.01, "fail")])
def test_p99_limit_is_130_percent_of_the_champion(cand_ms: float, verdict: str) -> None:
    result = summarise(cols(1000, champ_ms=10.0, cand_ms=cand_ms), POLICY)
    assert result["verdict"] == verdict
    assert result["candidate_p99_ms"] == pytest.approx(cand_ms)


def test_low_agreement_fails_even_before_min_hours() -> None:
    result = summarise(cols(1000, hours=2, agree=0.8), POLICY)
    assert result["verdict"] == "fail" and "agreement" in result["reasons"][0]


def test_error_rate_must_not_be_significantly_worse() -> None:
    assert summarise(cols(2000, champ_err=10, cand_err=14), POLICY)["verdict"] == "pass"  # noise
    worse = summarise(cols(2000, champ_err=10, cand_err=40), POLICY)
    assert worse["verdict"] == "fail" and "Fisher" in worse["reasons"][0]


def test_shadow_needs_a_champion_and_a_passed_gate(api, auth, register, db, target) -> None:
    candidate = register()
    assert api.post(f"/v1/candidates/{candidate['id']}/shadow", headers=auth("ci")).status_code == 409
    gate_pass(db, candidate["id"])
    refused = api.post(f"/v1/candidates/{candidate['id']}/shadow", headers=auth("ci"))
    assert refused.status_code == 409 and "no champion" in refused.json()["detail"]


def test_records_replace_on_repeat_and_refuse_bad_rows(api, auth, shadowed, db) -> None:
    cid = shadowed["id"]
    summary = api.get(f"/v1/candidates/{cid}/shadow", headers=auth("reviewer")).json()
    assert summary["n"] == 300 and summary["verdict"] == "pass"
    again = shadow_records(300, hours=25, agree=0.5)  # same request ids, new answers
    assert api.post(
        f"/v1/candidates/{cid}/shadow/records", json={"records": again}, headers=auth("serving")
    ).json() == {"accepted": 300}
    summary = api.get(f"/v1/candidates/{cid}/shadow", headers=auth("reviewer")).json()
    assert summary["n"] == 300 and summary["agreement"] == pytest.approx(0.5) and summary["verdict"] == "fail"
    before = snapshot(db)
    bad = shadow_records(2, hours=1)
    bad[1]["candidate_latency_ms"] = -3
    response = api.post(
        f"/v1/candidates/{cid}/shadow/records", json={"records": bad}, headers=auth("serving")
    )
    assert (
        response.status_code == 422
        and response.json()["errors"][0]["field"] == "records.1.candidate_latency_ms"
    )
    naive = shadow_records(1, hours=1)
    naive[0]["ts"] = "2026-11-01T10:00:00"
    assert (
        api.post(
            f"/v1/candidates/{cid}/shadow/records", json={"records": naive}, headers=auth("serving")
        ).status_code
        == 422
    )
    assert snapshot(db) == before


def test_routing_lists_the_shadow_with_weight_zero(api, auth, shadowed, champion) -> None:
    routes = api.get("/v1/targets/intent_classifier/routing", headers=auth("ci")).json()["routes"]
    assert [(r["role"], r["weight"]) for r in routes] == [("champion", 1.0), ("shadow", 0.0)]
