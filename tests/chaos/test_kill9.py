"""Chaos on the promotion path (Postgres, real processes): kill -9 at a seeded random instant during a
canary stage advance, an auto-abort with rollback and page, a promotion to champion (the leading
canary-daemon, while a standby waits), an on-call re-enable and a manual rollback (``gatekeeper serve``,
while the client retries with its Idempotency-Key), and an evaluation mid-run (``gatekeeper worker``).
After each restart the invariants of invariants.py must hold. ``make chaos`` runs 20 kills per point."""

from __future__ import annotations

import json
import random
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from gatekeeper.canary import service as canaries
from gatekeeper.canary.daemon import CanaryDaemon
from gatekeeper.evaluation import service as evaluations
from gatekeeper.evaluation.schemas import EvaluationCreate
from gatekeeper.jobs.models import Job
from gatekeeper.notify.service import deliver_due
from gatekeeper.registry import service as registry
from gatekeeper.registry.artifacts import file_sha256
from gatekeeper.registry.auth import create_token
from gatekeeper.registry.models import Candidate, Decision
from gatekeeper.registry.schemas import CandidateCreate, TargetCreate
from gatekeeper.registry.states import Status
from tests.chaos import invariants
from tests.chaos.harness import ITERATIONS, SEED, TICK, Figures, Proc, Zygote, free_port, wait_for
from tests.conftest import POLICY_FILE, ROOT, TAGS
from tests.dashboards.operations import (
    RERANKER,
    RERANKER_TAGS,
    build_reranker_evalset,
    ranker_scores,
    toy_artifact,
)
from tests.postgres.test_daemon import seed_target
from tests.promotion.conftest import gate_pass

pytestmark = pytest.mark.postgres
PLAN = "stages: [{share: 0.01, days: 7}, {share: 0.05, days: 3}, {share: 0.25, days: 7}]"
EVIDENCE = "min_windows: 3, min_requests: 10"
POLICIES = {  # the canary started a day ago: each policy makes the next tick do one kind of change
    "stage_advance": {PLAN: f"stages: [{{share: 0.01, days: 0.5, {EVIDENCE}}}, {{share: 0.05, days: 7}}]"},
    "promotion": {
        PLAN: f"stages: [{{share: 0.01, days: 0.5, {EVIDENCE}}}]",
        "bake_hours: 24": "bake_hours: 0",
    },
    "auto_abort": {},
}
DONE = {"stage_advance": ("running", 1), "promotion": ("passed", 0), "auto_abort": ("aborted", 0)}
CANARIES_PER_KILL = 3
# The kill lands uniformly in this many seconds after the canaries are seeded: the leader's next tick
# (0.05 s paced per canary), and for aborts also its outbox sender's POSTs (every 2 s, 0.2 s each).
KILL_WITHIN = {"stage_advance": 4 * TICK, "promotion": 4 * TICK, "auto_abort": 3.0}
FIGURES = Figures()


@pytest.fixture(scope="module")
def zygote(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    z = Zygote(tmp_path_factory.mktemp("chaos-logs"), {}).start()
    yield z
    z.close()
    print(FIGURES.line())  # shown with -s; `make chaos` runs with -s


@pytest.fixture
def cluster(zygote: Zygote, db, settings, receiver, tmp_path: Path) -> Zygote:  # noqa: ANN001
    """The zygote set up for this test's database and webhook receiver; its processes die with the test."""
    zygote.env = {
        "GATEKEEPER_DATABASE_URL": settings.database_url,
        "GATEKEEPER_ARTIFACT_ROOT": str(settings.artifact_root),
        "GATEKEEPER_REPORT_DIR": str(tmp_path / "reports"),
        "GATEKEEPER_EVALSET_ROOT": str(ROOT),
        "GATEKEEPER_PAGERDUTY_URL": f"{receiver.url}/pd",
        "GATEKEEPER_SLACK_WEBHOOK_URL": f"{receiver.url}/slack",
        "GATEKEEPER_OUTBOX_CLAIM_SECONDS": "1",
        "GATEKEEPER_BOOTSTRAP_RESAMPLES": "100",
    }
    settings.pagerduty_url, settings.slack_webhook_url = f"{receiver.url}/pd", f"{receiver.url}/slack"
    yield zygote
    for proc in zygote.procs:
        if proc.alive():
            proc.kill()
    zygote.procs.clear()


def daemon(z: Zygote, name: str) -> Proc:
    return z.spawn(name, "canary-daemon", "--tick-seconds", str(TICK), "--name", name, "--pace", "0.05")


def policy_for(point: str) -> str:
    text = POLICY_FILE.read_text()
    for old, new in POLICIES[point].items():
        assert old in text
        text = text.replace(old, new)
    return text


def states(db, ids: list[str]) -> list[tuple[str, int]]:  # noqa: ANN001
    with db.session() as session:
        return [(c.state, c.stage) for c in (canaries.get(session, i) for i in ids)]


@pytest.mark.parametrize("point", list(POLICIES))
def test_kill_9_of_the_leading_daemon(
    point: str, cluster: Zygote, db, settings, make_artifact, receiver
) -> None:  # noqa: ANN001
    """Kill the leader at a random instant while it changes canaries; the standby finishes the job."""
    rng = random.Random(f"{SEED}:{point}")
    leader = daemon(cluster, f"{point}-0")
    wait_for(lambda: leader.said("is leader"), what="the first leader")
    standby = daemon(cluster, f"{point}-1")
    wait_for(lambda: standby.said("is standby"), what="the standby")
    for i in range(ITERATIONS):
        now = datetime.now(UTC)
        names = [f"{point}_{i}_{k}" for k in range(CANARIES_PER_KILL)]
        ids = [
            seed_target(
                db,
                settings,
                n,
                make_artifact,
                now=now,
                breach=point == "auto_abort",
                policy=policy_for(point),
            )
            for n in names
        ]
        time.sleep(rng.uniform(0.0, KILL_WITHIN[point]))
        killed_at = leader.kill()
        changed = sum(state != ("running", 0) for state in states(db, ids))
        took = wait_for(lambda s=standby: s.took_over_at(), timeout=10, what="the takeover") - killed_at
        FIGURES.takeovers.append(took)
        leader, standby = standby, daemon(cluster, f"{point}-{i + 2}")
        wait_for(lambda ids=ids: set(states(db, ids)) == {DONE[point]}, what=f"{point} on {names}")
        wait_for(lambda: invariants.all_delivered(db), what="every page delivered")
        invariants.check(db, receiver)
        FIGURES.add(point, landed=changed not in (0, len(ids)))
    FIGURES.resent += receiver.repeats
    assert max(FIGURES.takeovers) < 10 * TICK  # one tick when the machine is idle; slack for a loaded one


def three_versions(db, settings, make_artifact, name: str) -> list[str]:  # noqa: ANN001
    """A target whose champions were v1, v2 and now v3 (v1 and v2 retired)."""
    with db.transaction() as session:
        policy = POLICY_FILE.read_text().replace("target: intent_classifier", f"target: {name}")
        registry.create_target(
            session, spec=TargetCreate(name=name, task="classification", policy=policy), actor="t"
        )
    ids = []
    for _ in range(3):
        uri, sha = make_artifact()
        spec = CandidateCreate(
            target=name, artifact_uri=uri, artifact_sha256=sha, tags={**TAGS, "model_target": name}
        )
        with db.transaction() as session:
            ids.append(
                str(registry.register_candidate(session, spec=spec, actor="ci", settings=settings)[0].id)
            )
        gate_pass(db, ids[-1])
        with db.transaction() as session:
            if len(ids) > 1:
                registry.transition(
                    session, registry.get_candidate(session, ids[-2], lock=True), Status.RETIRED, actor="t"
                )
            registry.transition(
                session, registry.get_candidate(session, ids[-1], lock=True), Status.CHAMPION, actor="t"
            )
    return ids


def aborted_canary(db, settings, make_artifact, name: str) -> str:  # noqa: ANN001
    """A canary the daemon aborted on a real regression, its page delivered."""
    canary_id = seed_target(db, settings, name, make_artifact, now=datetime.now(UTC), breach=True)
    assert canary_id in CanaryDaemon(db, settings, echo=lambda _: None).tick().aborted
    with httpx.Client() as http:
        deliver_due(db, now=datetime.now(UTC), http=http)
    return canary_id


def serve(z: Zygote, port: int, i: int) -> Proc:
    proc = z.spawn(f"serve-{port}-{i}", "serve", "--port", str(port))
    wait_for(lambda: _healthy(port), timeout=20, what="the API")
    return proc


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def retried(
    url: str, body: dict[str, Any], headers: dict[str, str], out: list[httpx.Response | None]
) -> None:
    """The client: POST, and on a lost answer (connection refused or reset) the same POST, same key; a
    ``None`` in ``out`` per lost answer."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            out.append(httpx.post(url, json=body, headers=headers, timeout=10))
            return
        except httpx.HTTPError:
            out.append(None)
            time.sleep(0.05)


def token(db, role: str) -> str:  # noqa: ANN001
    with db.transaction() as session:
        return create_token(session, name=f"chaos-{role}", role=role, actor="chaos")[1]


@pytest.mark.parametrize("point", ["manual_rollback", "reenable"])
def test_kill_9_of_the_api_mid_request(
    point: str, cluster: Zygote, db, settings, make_artifact, receiver
) -> None:  # noqa: ANN001
    """Kill ``serve`` while an on-call change is in flight; the client retries blindly with its key."""
    rng = random.Random(f"{SEED}:{point}")
    port = free_port()
    secret = token(db, "admin")
    server = serve(cluster, port, 0)
    for i in range(ITERATIONS):
        if point == "manual_rollback":
            ids = three_versions(db, settings, make_artifact, f"rb_{i}")
            url, body = f"http://127.0.0.1:{port}/v1/targets/rb_{i}/rollback", {"reason": "v3 misroutes"}
        else:
            canary_id = aborted_canary(db, settings, make_artifact, f"re_{i}")
            url = f"http://127.0.0.1:{port}/v1/canaries/{canary_id}/reenable"
            body = {"reason": "checked by hand", "force": True}
        headers = {"Authorization": f"Bearer {secret}", "Idempotency-Key": f"{point}-{i}"}
        answers: list[httpx.Response | None] = []
        client = threading.Thread(target=retried, args=(url, body, headers, answers))
        client.start()
        time.sleep(rng.uniform(0.0, 0.12))
        server.kill()
        server = serve(cluster, port, i + 1)
        client.join()
        lost = sum(1 for a in answers if a is None)
        answers = [a for a in answers if a is not None]
        assert answers and answers[0].status_code == 200, [a.text for a in answers]
        with db.session() as session:
            if point == "manual_rollback":
                assert registry.champion(session, f"rb_{i}").id == registry.get_candidate(session, ids[1]).id
                rollbacks = session.scalar(
                    select(func.count()).where(
                        Decision.verdict == "rollback", Decision.candidate_id == ids[2]
                    )
                )
                assert rollbacks == 1 and answers[0].json()["champion"]["version"] == 2
            else:
                canary = canaries.get(session, canary_id)
                assert (canary.state, canary.reenables) == ("running", 1), answers[0].text
        invariants.check(db, receiver)
        FIGURES.add(point, landed=lost > 0)


def submitted_candidate(db, settings, evalset: Path, i: int) -> str:  # noqa: ANN001
    """A reranker candidate with its scores submitted and its evaluation queued."""
    uri, sha = toy_artifact(settings.artifact_root, f"reranker-{i}")
    scores = settings.artifact_root / f"reranker-{i}.jsonl"
    rows = ranker_scores(evalset, noise=0.7, seed=i)
    scores.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    spec = CandidateCreate(target=RERANKER, artifact_uri=uri, artifact_sha256=sha, tags=RERANKER_TAGS)
    with db.transaction() as session:
        candidate, _ = registry.register_candidate(session, spec=spec, actor="ci", settings=settings)
        evaluation = evaluations.request_evaluation(
            session,
            candidate_id=str(candidate.id),
            spec=EvaluationCreate(predictions_uri=scores.name, predictions_sha256=file_sha256(scores)),
            actor="ci",
            settings=settings,
        )
        return str(evaluation.id)


def test_kill_9_of_the_worker_mid_evaluation(cluster: Zygote, db, settings, receiver, tmp_path: Path) -> None:  # noqa: ANN001
    """Kill the worker while it evaluates; after its lease lapses another worker runs the job once more."""
    rng = random.Random(f"{SEED}:evaluation")
    evalset = build_reranker_evalset(tmp_path / "reranker-evalset")
    policy = (ROOT / "policies" / "reranker.yaml").read_text()
    with db.transaction() as session:
        registry.create_target(
            session,
            spec=TargetCreate(
                name=RERANKER,
                task="ranking",
                policy=policy.replace("evalset_dir: evalsets/reranker", f"evalset_dir: {evalset}"),
            ),
            actor="t",
        )
    worker_args = ("worker", "--poll", "0.05", "--lease-seconds", "1")
    worker = cluster.spawn("worker-0", *worker_args)
    for i in range(ITERATIONS):
        evaluation_id = submitted_candidate(db, settings, evalset, i)
        wait_for(
            lambda e=evaluation_id, w=worker: w.said(f"runs evaluation {e}"), what="the worker to claim it"
        )
        time.sleep(rng.uniform(0.0, 1.0))
        worker.kill()
        killed_mid_run = not worker.said(f"evaluation {evaluation_id} succeeded")
        worker = cluster.spawn(f"worker-{i + 1}", *worker_args)
        wait_for(
            lambda e=evaluation_id: _job(db, e).status == "succeeded", timeout=60, what="the retried job"
        )
        job = _job(db, evaluation_id)
        assert job.attempts == (2 if killed_mid_run else 1), (job.attempts, killed_mid_run)
        with db.session() as session:
            evaluation = evaluations.get_evaluation(session, evaluation_id)
            assert evaluation.status == "done" and session.get(Candidate, evaluation.candidate_id).status in (
                Status.GATE_PASSED.value,
                Status.GATE_FAILED.value,
            )
        invariants.check(db, receiver)
        FIGURES.add("evaluation_mid_run", landed=killed_mid_run)


def _job(db, evaluation_id: str) -> Job:  # noqa: ANN001
    with db.session() as session:
        job = session.scalar(select(Job).where(Job.ref_id == evaluation_id))
        session.expunge(job)
        return job
