"""Long-poll of an evaluation (``GET /v1/evaluations/{id}?wait=S``): it answers when the evaluation
changes or has ended, not after S seconds; on Postgres the worker's change reaches the API by NOTIFY.
Every wait asked here is 30 s and the API's periodic re-read is off (60 s): an answer within the
(generous) deadline came from a change it was told of."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from gatekeeper.db import Database
from gatekeeper.jobs.handlers import install
from gatekeeper.jobs.worker import Worker
from tests.evaluation.test_submitted_api import lines, submit

WAIT_S = 30.0
DEADLINE_S = 20.0


def timed_get(http: httpx.Client, evaluation_id: str, wait: float = WAIT_S) -> tuple[dict, float]:
    started = time.monotonic()
    reply = http.get(f"/v1/evaluations/{evaluation_id}", params={"wait": wait, "results": "false"})
    return reply.json() | {"http": reply.status_code}, time.monotonic() - started


def follow_to_the_end(http: httpx.Client, evaluation_id: str) -> list[tuple[dict, float]]:
    seen = [timed_get(http, evaluation_id)]
    while seen[-1][0]["status"] not in ("done", "error") and len(seen) < 100:
        seen.append(timed_get(http, evaluation_id))
    return seen


def queued(api, auth, settings, register) -> str:  # noqa: ANN001
    api.app.state.evaluation_waits.recheck = 60.0
    reply, _ = submit(api, auth, settings, register()["id"], "good.jsonl", lines())
    assert reply.status_code == 202, reply.text
    return reply.json()["id"]


def run_worker_soon(worker_db: Database, settings) -> threading.Timer:  # noqa: ANN001
    install()
    timer = threading.Timer(0.5, lambda: Worker(worker_db, settings, echo=lambda _: None).run_once())
    timer.start()
    return timer


def test_a_long_poll_answers_each_change_and_the_decision(
    api, auth, db, settings, register, live_server, tokens
) -> None:  # noqa: ANN001, E501
    evaluation_id = queued(api, auth, settings, register)
    headers = {"Authorization": f"Bearer {tokens['ci']}"}
    with httpx.Client(base_url=live_server.url, headers=headers, timeout=60) as http:
        timer = run_worker_soon(db, settings)
        seen = follow_to_the_end(http, evaluation_id)
        timer.join()
    assert seen[-1][0]["status"] == "done" and seen[-1][0]["verdict"] in ("pass", "fail", "inconclusive")
    assert all(elapsed < DEADLINE_S for _, elapsed in seen), seen
    assert seen[0][0]["status"] != "queued"  # the first answer came with the first change


def test_an_ended_or_unknown_evaluation_answers_at_once_and_an_idle_one_after_its_wait(
    api, auth, db, settings, register
) -> None:  # noqa: ANN001, E501
    evaluation_id = queued(api, auth, settings, register)
    idle = api.get(f"/v1/evaluations/{evaluation_id}", params={"wait": 0.2}, headers=auth("ci"))
    assert idle.status_code == 200 and idle.json()["status"] == "queued"
    missing = api.get("/v1/evaluations/not-an-id", params={"wait": WAIT_S}, headers=auth("ci"))
    assert missing.status_code == 404
    install()
    assert Worker(db, settings, echo=lambda _: None).run_once()
    started = time.monotonic()
    ended = api.get(f"/v1/evaluations/{evaluation_id}", params={"wait": WAIT_S}, headers=auth("ci"))
    assert ended.json()["status"] == "done" and time.monotonic() - started < DEADLINE_S
    too_long = api.get(f"/v1/evaluations/{evaluation_id}", params={"wait": 31}, headers=auth("ci"))
    assert too_long.status_code == 422


@pytest.mark.parametrize("db", ["postgres"], indirect=True)
def test_the_decision_reaches_the_api_by_notify(
    api, auth, db, settings, register, live_server, tokens
) -> None:  # noqa: ANN001, E501
    evaluation_id = queued(api, auth, settings, register)
    # The worker as another process: the same database under another URL, so no change it commits is
    # published in this process to the API's subscribers; only Postgres' NOTIFY reaches them.
    url = db.engine.url.update_query_dict({"application_name": "gk-worker"})
    worker_db = Database.from_url(url.render_as_string(hide_password=False))
    headers = {"Authorization": f"Bearer {tokens['ci']}"}
    try:
        with httpx.Client(base_url=live_server.url, headers=headers, timeout=60) as http:
            timer = run_worker_soon(worker_db, settings)
            seen = follow_to_the_end(http, evaluation_id)
            timer.join()
    finally:
        worker_db.dispose()
    assert seen[-1][0]["status"] == "done"
    assert all(elapsed < DEADLINE_S for _, elapsed in seen), seen
