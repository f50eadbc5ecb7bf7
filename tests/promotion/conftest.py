"""Fixtures for shadow (and the canary that follows it): an app on a manual clock, a target with a
champion, and a candidate with a passed shadow, built through the real API and services."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gatekeeper.api.app import create_app
from gatekeeper.canary.daemon import CanaryDaemon
from gatekeeper.clock import ManualClock
from gatekeeper.notify.receiver import LocalReceiver
from gatekeeper.registry import service as registry
from gatekeeper.registry.states import Status

T0 = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def app(settings, db, clock):  # noqa: ANN001, ANN201 - overrides the shared app: manual clock
    return create_app(settings, db, clock)


def gate_pass(db, candidate_id: str, *, extended: bool = False) -> None:  # noqa: ANN001
    """registered -> evaluating -> gate_passed with an offline decision, as the evaluation does."""
    with db.transaction() as session:
        candidate = registry.get_candidate(session, candidate_id, lock=True)
        registry.transition(session, candidate, Status.EVALUATING, actor="test")
        registry.record_decision(
            session,
            candidate=candidate,
            stage="offline",
            verdict="pass",
            actor="system",
            details={"extended_canary": extended, "extended_reason": "test"},
        )
        registry.transition(session, candidate, Status.GATE_PASSED, actor="system")


def shadow_records(
    n: int, *, hours: float, agree: float = 0.97, cand_ms: float = 9.0, start=T0
) -> list[dict]:  # noqa: ANN001
    step = timedelta(hours=hours) / n
    return [
        {
            "request_id": f"r{i}",
            "ts": (start - timedelta(hours=hours) + step * i).isoformat(),
            "lang": ["en", "ja", "mixed"][i % 3],
            "device": "ios" if i % 2 else "web",
            "champion_prediction": "faq",
            "candidate_prediction": "faq" if (i % 100) < agree * 100 else "chitchat",
            "champion_latency_ms": 8.0 + (i % 7),
            "candidate_latency_ms": cand_ms + (i % 7),
        }
        for i in range(n)
    ]


@pytest.fixture
def champion(api, auth, register, db) -> dict[str, Any]:  # noqa: ANN001
    first = register()
    gate_pass(db, first["id"])
    promoted = api.post(
        f"/v1/candidates/{first['id']}/promote", json={"reason": "first model"}, headers=auth("admin")
    )
    assert promoted.status_code == 200
    return promoted.json()


def run_shadow(api, auth, clock, candidate_id: str, *, n: int = 300, hours: float = 25, **kw) -> dict:  # noqa: ANN001
    """Start the shadow ``hours`` before the clock's now, then post ``n`` records dated inside it: the
    verdict is taken at now, on server time. The clock ends where it was."""
    now = clock.now()
    clock.set(now - timedelta(hours=hours))
    started = api.post(f"/v1/candidates/{candidate_id}/shadow", headers=auth("ci"))
    clock.set(now)
    assert started.status_code == 200, started.text
    response = api.post(
        f"/v1/candidates/{candidate_id}/shadow/records",
        headers=auth("serving"),
        json={"records": shadow_records(n, hours=hours, start=now, **kw)},
    )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def shadowed(api, auth, register, db, champion, clock) -> dict[str, Any]:  # noqa: ANN001
    """A candidate whose shadow has passed at T0 (25 h of server time, 300 agreeing, fast records)."""
    candidate = register()
    gate_pass(db, candidate["id"])
    assert run_shadow(api, auth, clock, candidate["id"])["verdict"] == "pass"
    return candidate


@pytest.fixture
def daemon(db, settings, clock) -> CanaryDaemon:  # noqa: ANN001
    return CanaryDaemon(db, settings, clock=clock, name="test-daemon", echo=lambda _: None)


Receiver = LocalReceiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()
