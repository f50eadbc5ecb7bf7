"""Fixtures for the canary: the shadow fixtures it starts from, a started canary, and posting windows as
the serving layer does."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from tests.conftest import POLICY_FILE
from tests.promotion.conftest import (  # noqa: F401 - fixtures the canary tests use
    app,
    champion,
    clock,
    daemon,
    receiver,
    shadowed,
)


@pytest.fixture
def canary(api, auth, shadowed) -> dict[str, Any]:  # noqa: ANN001, F811
    response = api.post(f"/v1/candidates/{shadowed['id']}/canary", headers=auth("ci"))
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def seed_rules(api, auth, canary) -> None:  # noqa: ANN001
    """For tests of what a seed-rule trigger records and shows: the target runs the seed's four rules only
    (under the shipped ``both`` the sequential rule fires first on most regressions)."""
    text = policy_text(**{"abort_rules: {rules: both,": "abort_rules: {rules: seed,"})
    response = api.put("/v1/targets/intent_classifier/policy", json={"policy": text}, headers=auth("admin"))
    assert response.status_code == 200, response.text


def post_windows(api, auth, canary_id: str, windows) -> None:  # noqa: ANN001
    body = [w.to_dict() for w in windows]
    for begin in range(0, len(body), 5000):
        response = api.post(
            f"/v1/canaries/{canary_id}/metrics",
            json={"windows": body[begin : begin + 5000]},
            headers=auth("serving"),
        )
        assert response.status_code == 200, response.text


def post_until(api, auth, clock, canary_id: str, windows, until: datetime) -> None:  # noqa: ANN001, F811
    """Move the clock to ``until`` and post, as the serving layer would by then, the windows that ended
    since the clock's last reading (and the baseline hour, idempotent when sent again)."""
    since = clock.now()
    clock.set(until)
    due = [w for w in windows if w.end <= until and (w.end > since or w.group == "baseline")]
    if due:
        post_windows(api, auth, canary_id, due)


def policy_text(**replace: str) -> str:
    text = POLICY_FILE.read_text()
    for old, new in replace.items():
        text = text.replace(old, new)
    return text
