"""The local shadow replay (demo and ``gatekeeper shadow replay``): records dated inside the shadow, so a
replay can never make a shadow older than the server clock says it is."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from gatekeeper.evaluation import predictors
from gatekeeper.promotion import replay as replays
from tests.promotion.conftest import T0, gate_pass


class Fixed:
    """A predictor that always answers the first label, quickly."""

    labels = ["faq", "chitchat"]

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        return np.array([[0.9, 0.1]] * len(texts))


@pytest.fixture
def fixed_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both models answer alike and each call takes exactly 1 ms, so the shadow's p99 latency ratio is
    1.0 by construction: these tests are about the server clock, not about a loaded machine's jitter."""
    ticks = iter(range(10**9))
    monkeypatch.setattr(predictors, "load", lambda task, path: Fixed())
    monkeypatch.setattr(replays, "time", SimpleNamespace(perf_counter=lambda: next(ticks) / 1000.0))


class Recording(Fixed):
    def __init__(self, name: str, calls: list[str]) -> None:
        self.name, self.calls = name, calls

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        self.calls.append(self.name)
        return super().predict_proba(texts)


def test_both_models_are_warmed_and_take_turns_running_first() -> None:
    calls: list[str] = []
    rows = [{"id": f"r{i}", "text": "hello"} for i in range(4)]
    records = replays._score(
        rows, Recording("cand", calls), Recording("champ", calls), start=T0, end=T0 + timedelta(hours=1),
        echo=lambda _: None,
    )  # fmt: skip
    warm = 2 * min(replays.WARMUP, len(rows))  # untimed, unrecorded
    assert calls[warm:] == ["champ", "cand", "cand", "champ"] * 2
    assert [r.request_id for r in records] == ["r0", "r1", "r2", "r3"]


def _replay(db, settings, clock, cid: str) -> dict[str, Any]:  # noqa: ANN001
    return replays.replay(db, settings, cid, clock=clock, actor="serving", limit=150, echo=lambda _: None)


def test_a_replay_right_after_the_start_waits_for_server_time(
    api, auth, register, db, settings, champion, clock, daemon, fixed_models
) -> None:
    cid = register()["id"]
    gate_pass(db, cid)
    summary = _replay(db, settings, clock, cid)  # starts the shadow now
    assert summary["status"] == "shadow" and summary["n"] == 150 and summary["verdict"] == "pending"
    assert summary["hours"] == 0
    clock.set(T0 + timedelta(hours=24))
    daemon.tick()
    after = api.get(f"/v1/candidates/{cid}/shadow", headers=auth("reviewer")).json()
    assert after["verdict"] == "pass" and after["hours"] == 24 and after["agreement"] == 1.0


def test_the_demo_shadow_runs_its_hours_then_replays(
    api, auth, register, db, settings, champion, clock, fixed_models
) -> None:
    cid = register()["id"]
    gate_pass(db, cid)
    assert api.post(f"/v1/candidates/{cid}/shadow", headers=auth("ci")).status_code == 200
    clock.advance(timedelta(hours=25))
    summary = _replay(db, settings, clock, cid)
    assert summary["verdict"] == "pass" and summary["hours"] == 25 and summary["n"] == 150
    assert api.post(f"/v1/candidates/{cid}/canary", headers=auth("ci")).status_code == 201
