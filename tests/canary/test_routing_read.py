"""The fleet's routing read on both engines: the generation as ETag with 304 answers, a cache that shows
an abort, a rollback or a stage advance on the very next read (and one committed by another process
through a long-poll), and the long-poll's bounds."""

from __future__ import annotations

import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx

from gatekeeper.canary import service as canary_service
from gatekeeper.canary.models import Canary
from gatekeeper.canary.routing_cache import matches
from gatekeeper.canary.simulate import Regression
from gatekeeper.db import Database
from gatekeeper.registry.auth import revoke_token
from tests.canary.test_canary import abort_with
from tests.idempotency.test_routes import ROLLBACK, three_champions

ROUTING = "/v1/targets/intent_classifier/routing"


def read(api, auth, etag: str | None = None, **params: object) -> httpx.Response:  # noqa: ANN001
    headers = {**auth("serving"), **({"If-None-Match": etag} if etag else {})}
    return api.get(ROUTING, headers=headers, params=params)


def routes(response: httpx.Response) -> list[tuple[str, float]]:
    assert response.status_code == 200, response.text
    return [(r["role"], r["weight"]) for r in response.json()["routes"]]


def test_if_none_match_is_the_rfc_weak_comparison() -> None:
    assert matches('"7"', '"7"') and matches('W/"7"', '"7"') and matches('"1", "7"', '"7"')
    assert matches("*", '"7"')
    assert not matches('"70"', '"7"') and not matches(None, '"7"') and not matches("", '"7"')


def test_the_etag_is_the_generation_and_if_none_match_answers_304(api, auth, canary) -> None:  # noqa: ANN001
    first = read(api, auth)
    etag = first.headers["ETag"]
    assert etag == f'"{first.json()["generation"]}"' and first.headers["Cache-Control"] == "no-cache"
    for held in (etag, f"W/{etag}", f'"0", {etag}', "*"):
        unchanged = read(api, auth, held)
        assert unchanged.status_code == 304 and unchanged.content == b"", held
        assert unchanged.headers["ETag"] == etag
    assert read(api, auth, '"12345"').json() == first.json()


def test_a_manual_abort_shows_on_the_next_read(api, auth, canary, champion) -> None:  # noqa: ANN001
    before = read(api, auth)
    assert routes(before) == [("champion", 0.99), ("canary", 0.01)]
    aborted = api.post(
        f"/v1/canaries/{canary['id']}/abort", json={"reason": "bad canary"}, headers=auth("oncall")
    )
    assert aborted.status_code == 200, aborted.text
    after = read(api, auth, before.headers["ETag"])
    assert routes(after) == [("champion", 1.0)]
    assert after.json()["generation"] > before.json()["generation"]


def test_an_abort_by_the_daemon_shows_on_the_next_read(api, auth, canary, daemon, clock) -> None:  # noqa: ANN001
    assert routes(read(api, auth)) == [("champion", 0.99), ("canary", 0.01)]  # cached now
    regression = Regression("error_rate", timedelta(hours=12), timedelta(minutes=40), 4.0)
    aborted = abort_with(api, auth, canary, daemon, clock, regression=regression)
    assert aborted["state"] == "aborted"
    assert routes(read(api, auth)) == [("champion", 1.0)]


def test_a_rollback_shows_on_the_next_read(api, auth, register, db) -> None:  # noqa: ANN001
    v1, v2, v3 = three_champions(api, auth, register, db)
    assert [r["candidate_id"] for r in read(api, auth).json()["routes"]] == [v3["id"]]
    rolled = api.post(ROLLBACK, json={"reason": "v3 misroutes"}, headers=auth("oncall"))
    assert rolled.status_code == 200, rolled.text
    assert [r["candidate_id"] for r in read(api, auth).json()["routes"]] == [v2["id"]]


def test_a_failed_change_leaves_the_cached_routing_current(api, auth, canary, champion) -> None:  # noqa: ANN001
    """A refused state change rolls back its transaction: nothing is announced, nothing changes."""
    before = read(api, auth)
    refused = api.post(
        f"/v1/canaries/{canary['id']}/reenable", json={"reason": "not aborted"}, headers=auth("oncall")
    )
    assert refused.status_code == 409
    assert read(api, auth, before.headers["ETag"]).status_code == 304


def other_process(db: Database) -> Database:
    """The same database under another URL: this process's announcements do not reach it, as with a
    daemon in a process of its own (Postgres still NOTIFYs; on SQLite the cache's age bound is all)."""
    url = db.engine.url
    if db.dialect == "sqlite":
        return Database.from_url(f"sqlite:///{url.database.replace('/gatekeeper.db', '/./gatekeeper.db')}")
    return Database.from_url(url.update_query_dict({"application_name": "other"}).render_as_string(False))


def wait_for_waiter(app) -> None:  # noqa: ANN001
    deadline = time.monotonic() + 10
    while not app.state.routing._waits.waited_on() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert app.state.routing._waits.waited_on(), "the long-poll never started waiting"


def test_a_stage_advance_in_another_process_wakes_a_long_poll(
    app, live_server, tokens, db, canary, clock
) -> None:  # noqa: ANN001
    headers = {"Authorization": f"Bearer {tokens['serving']}"}
    with httpx.Client(base_url=live_server.url, headers=headers, timeout=60) as http:
        before = http.get(ROUTING)
        generation = before.json()["generation"]
        with ThreadPoolExecutor(1) as pool:
            poll = pool.submit(http.get, ROUTING, params={"wait_for_generation": generation, "timeout": 30})
            wait_for_waiter(app)
            other = other_process(db)
            try:
                with other.transaction() as session:
                    locked = session.get(Canary, uuid.UUID(canary["id"]), with_for_update=True)
                    canary_service._advance(session, locked, actor="test", at=clock.now(), settings=None)
            finally:
                other.dispose()
            woken = poll.result(timeout=60)
    assert woken.json()["generation"] == generation + 1
    assert routes(woken) == [("champion", 0.95), ("canary", 0.05)]


def test_a_long_poll_that_times_out_answers_the_body_or_304(api, auth, canary) -> None:  # noqa: ANN001
    current = read(api, auth)
    generation = current.json()["generation"]
    timed_out = read(api, auth, wait_for_generation=generation, timeout=0.05)
    assert timed_out.json() == current.json()
    held = read(api, auth, current.headers["ETag"], wait_for_generation=generation, timeout=0.05)
    assert held.status_code == 304
    # a generation the client cannot have seen (a restored backup): the current table at once
    assert read(api, auth, wait_for_generation=generation + 5, timeout=30).json() == current.json()


def test_the_long_poll_is_bounded(api, auth, target) -> None:  # noqa: ANN001
    too_long = read(api, auth, wait_for_generation=0, timeout=31)
    assert too_long.status_code == 422 and too_long.json()["errors"][0]["field"] == "timeout"
    assert read(api, auth, wait_for_generation=-1).status_code == 422


def test_a_revoked_token_is_refused_on_the_next_read(api, auth, db, target) -> None:  # noqa: ANN001
    assert read(api, auth).status_code == 200  # the token is cached now
    with db.transaction() as session:
        revoke_token(session, name="serving", actor="test")
    assert read(api, auth).status_code == 401


def test_an_unknown_target_is_404(api, auth, target) -> None:  # noqa: ANN001
    response = api.get("/v1/targets/nope/routing", headers=auth("serving"))
    assert response.status_code == 404 and "nope" in response.json()["detail"]


def test_a_cached_read_is_answered_before_fastapi_as_the_route_answers(app, api, auth, canary) -> None:  # noqa: ANN001
    cache = app.state.routing
    routed: list[str] = []
    read_through_route = cache.read

    async def counted(target: str):  # noqa: ANN202
        routed.append(target)
        return await read_through_route(target)

    cache.read = counted
    first = read(api, auth)  # token and table unknown: through FastAPI's route
    again, held = read(api, auth), read(api, auth, first.headers["ETag"])  # both cached now
    assert routed == ["intent_classifier"]
    assert again.content == first.content and held.status_code == 304 and held.content == b""
    for header in ("etag", "cache-control", "content-type", "content-length"):
        assert again.headers[header] == first.headers[header], header
    assert held.headers["etag"] == first.headers["etag"]
    counted_200 = 'route="/v1/targets/{target}/routing",status="200"} 2.0'
    counted_304 = 'route="/v1/targets/{target}/routing",status="304"} 1.0'
    scrape = api.get("/metrics").text
    assert counted_200 in scrape and counted_304 in scrape


def test_the_access_log_leaves_out_successful_polls_only(api, auth, canary, caplog) -> None:  # noqa: ANN001
    caplog.set_level(logging.INFO, logger="gatekeeper.access")
    first = read(api, auth)  # through the route
    read(api, auth, first.headers["ETag"], wait_for_generation=0)  # a long-poll answered at once: 304
    api.get("/v1/targets/nope/routing", headers=auth("serving"))
    api.get("/v1/whoami", headers=auth("serving"))
    lines = [r.getMessage() for r in caplog.records if r.name == "gatekeeper.access"]
    assert [line.split('"')[1] for line in lines] == [
        "GET /v1/targets/nope/routing HTTP/1.1",
        "GET /v1/whoami HTTP/1.1",
    ]
    assert lines[0].endswith(" 404")
