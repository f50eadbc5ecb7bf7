"""Concurrent registrations on the real Postgres through the real HTTP server."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import httpx
import pytest
from sqlalchemy import func, select

from gatekeeper.registry.models import AuditEvent, Candidate
from tests.conftest import TAGS

pytestmark = pytest.mark.postgres
CLIENTS = 32


@pytest.fixture(params=["postgres"])
def db(request, pg_db):  # noqa: ANN001, ANN201 - these tests are about Postgres row locks
    return pg_db


def _post_all(url: str, headers: dict[str, str], bodies: list[dict]) -> list[httpx.Response]:
    barrier = Barrier(len(bodies))

    def post(body: dict) -> httpx.Response:
        with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
            barrier.wait()  # release all clients at once
            return http.post("/v1/candidates", json=body)

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return list(pool.map(post, bodies))


def test_distinct_artifacts_get_versions_1_to_32(live_server, auth, make_artifact, target, db) -> None:
    bodies = [
        {"target": "intent_classifier", "artifact_uri": uri, "artifact_sha256": sha, "tags": TAGS}
        for uri, sha in (make_artifact() for _ in range(CLIENTS))
    ]
    responses = _post_all(live_server.url, auth("ci"), bodies)
    assert [r.status_code for r in responses] == [201] * CLIENTS, [
        r.text for r in responses if r.status_code != 201
    ]
    assert sorted(r.json()["version"] for r in responses) == list(range(1, CLIENTS + 1))
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Candidate)) == CLIENTS
        assert (
            session.scalar(select(func.count()).where(AuditEvent.action == "candidate.register")) == CLIENTS
        )


def test_same_artifact_from_32_clients_is_one_record(live_server, auth, make_artifact, target, db) -> None:
    uri, sha = make_artifact()
    body = {"target": "intent_classifier", "artifact_uri": uri, "artifact_sha256": sha, "tags": TAGS}
    responses = _post_all(live_server.url, auth("ci"), [body] * CLIENTS)
    assert sorted(r.status_code for r in responses) == [200] * (CLIENTS - 1) + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Candidate)) == 1
        assert session.scalar(select(func.count()).where(AuditEvent.action == "candidate.register")) == 1
    # the next distinct artifact continues at 2: nothing was skipped
    uri2, sha2 = make_artifact()
    nxt = httpx.post(
        f"{live_server.url}/v1/candidates",
        headers=auth("ci"),
        json={**body, "artifact_uri": uri2, "artifact_sha256": sha2},
    )
    assert nxt.json()["version"] == 2


def test_more_registrations_than_worker_threads_do_not_deadlock(
    settings, db, auth, make_artifact, tokens
) -> None:
    """The transaction holding the target's row lock commits on the endpoint's own thread.

    Were the commit left to run after FastAPI serialises the response (which needs a free worker
    thread), 12 clients against 2 threads would wedge: both threads waiting on the row lock, the
    lock holder waiting for a thread.
    """
    from gatekeeper.api.app import create_app
    from gatekeeper.api.server import BackgroundServer
    from tests.conftest import POLICY_FILE

    app = create_app(settings.model_copy(update={"api_threads": 2}), db)
    with BackgroundServer(app) as server:
        created = httpx.post(
            f"{server.url}/v1/targets",
            headers=auth("admin"),
            json={"name": "intent_classifier", "task": "classification", "policy": POLICY_FILE.read_text()},
        )
        assert created.status_code == 201, created.text
        bodies = [
            {"target": "intent_classifier", "artifact_uri": uri, "artifact_sha256": sha, "tags": TAGS}
            for uri, sha in (make_artifact() for _ in range(12))
        ]
        barrier = Barrier(len(bodies))

        def post(body: dict) -> httpx.Response:
            with httpx.Client(base_url=server.url, headers=auth("ci"), timeout=20) as http:
                barrier.wait()
                return http.post("/v1/candidates", json=body)

        with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
            responses = list(pool.map(post, bodies))
    assert sorted(r.json()["version"] for r in responses) == list(range(1, 13))
