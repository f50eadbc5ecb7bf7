"""The canary daemon as real processes on Postgres: one leader acts, a standby takes over when the
leader is killed, and a kill -9 in the middle of a tick leaves every canary, champion and route
consistent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gatekeeper.canary import service as canaries
from gatekeeper.canary.models import Canary, DaemonLease
from gatekeeper.canary.routing import routing
from gatekeeper.canary.schemas import MetricWindowIn
from gatekeeper.canary.simulate import Profile, Regression, healthy_stream
from gatekeeper.promotion import shadow
from gatekeeper.registry import service as registry
from gatekeeper.registry.models import Candidate, Decision
from gatekeeper.registry.schemas import CandidateCreate, TargetCreate
from gatekeeper.registry.states import Status
from tests.conftest import POLICY_FILE, TAGS
from tests.promotion.conftest import gate_pass, shadow_records

pytestmark = pytest.mark.postgres


def seed_target(  # noqa: ANN001
    db, settings, name: str, make_artifact, *, now: datetime, breach: bool, policy: str | None = None
) -> str:
    """A target with a champion and a running canary whose last day of windows does (or not) breach."""
    from gatekeeper.promotion.schemas import ShadowRecordIn

    policy = (policy or POLICY_FILE.read_text()).replace("target: intent_classifier", f"target: {name}")
    tags = {**TAGS, "model_target": name}
    with db.transaction() as session:
        registry.create_target(
            session, spec=TargetCreate(name=name, task="classification", policy=policy), actor="test"
        )
    ids = []
    for _ in range(2):
        uri, sha = make_artifact()
        with db.transaction() as session:
            cand, _ = registry.register_candidate(
                session,
                spec=CandidateCreate(target=name, artifact_uri=uri, artifact_sha256=sha, tags=tags),
                actor="ci",
                settings=settings,
            )
            ids.append(str(cand.id))
        gate_pass(db, ids[-1])
    start = now - timedelta(days=1)
    with db.transaction() as session:
        registry.promote_first(session, candidate_id=ids[0], reason="first", actor="admin")
        shadow.start(session, candidate_id=ids[1], actor="ci", now=start - timedelta(hours=25))
        records = [ShadowRecordIn(**r) for r in shadow_records(200, hours=25, start=start)]
        shadow.record(
            session, candidate_id=ids[1], records=records, actor="serving", now=start, settings=settings
        )
        canary = canaries.start(session, candidate_id=ids[1], actor="ci", now=start, settings=settings)
        # at the simulated traffic peak, whatever the wall clock says: a breach on thin night traffic
        # may fairly fail the evidence test, and that must not make this test depend on the hour
        peak_in = (Profile().peak_hour - (start.timestamp() % 86400) / 3600) % 24
        offset = timedelta(hours=min(peak_in, 22.5))
        regression = Regression("error_rate", offset, timedelta(minutes=40), 4.0) if breach else None
        stream = healthy_stream(start, days=0.99, seed=len(name), regression=regression)
        canaries.record_windows(
            session,
            canary_id=str(canary.id),
            windows=[MetricWindowIn(**w.to_dict()) for w in stream],
            actor="serving",
            now=now,
            skew_s=settings.evidence_skew_seconds,
        )
        return str(canary.id)


class Lines:
    """Collect a process's stderr lines in the background (a pipe left undrained would block it)."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self.thread = threading.Thread(
            target=lambda: self.lines.extend(iter(proc.stderr.readline, "")), daemon=True
        )
        self.thread.start()

    def saw(self, text: str) -> bool:
        return any(text in line for line in list(self.lines))

    def tail(self, n: int = 30) -> str:
        return "".join(self.lines[-n:])


class Daemon:
    def __init__(self, settings, name: str, *, pace: float = 0.0) -> None:  # noqa: ANN001
        env = {
            **os.environ,
            "GATEKEEPER_DATABASE_URL": settings.database_url,
            "GATEKEEPER_ARTIFACT_ROOT": str(settings.artifact_root),
        }
        self.name = name
        command = [sys.executable, "-m", "gatekeeper", "canary-daemon", "--tick-seconds", "0.3"]
        self.proc = subprocess.Popen(
            [*command, "--name", name, "--pace", str(pace)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        self.says = Lines(self.proc)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        self.proc.send_signal(sig)
        self.proc.wait(timeout=10)


def wait_for(predicate, timeout: float = 30.0, every: float = 0.1, *, daemons=()) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            said = "\n".join(f"--- {d.name} said:\n{d.says.tail()}" for d in daemons)
            raise AssertionError(f"condition not met in {timeout:.0f} s\n{said}")
        time.sleep(every)


def lease_holder(db) -> str | None:  # noqa: ANN001
    with db.session() as session:
        lease = session.get(DaemonLease, "canary-daemon")
        return lease.holder if lease else None


def aborts(db) -> list[str]:  # noqa: ANN001
    with db.session() as session:
        return list(session.scalars(select(Decision.actor).where(Decision.verdict == "abort")))


def assert_consistent(db) -> None:  # noqa: ANN001
    """Every canary fully changed or untouched; one champion per target; routes sum to 1."""
    with db.session() as session:
        for canary in session.scalars(select(Canary)):
            candidate = session.get(Candidate, canary.candidate_id)
            decisions = session.scalar(
                select(func.count()).where(Decision.candidate_id == candidate.id, Decision.verdict == "abort")
            )
            expected = {"running": ("canary", 0), "aborted": ("aborted", 1)}[canary.state]
            assert (candidate.status, decisions) == expected, (canary.state, candidate.status, decisions)
        for target in registry.list_targets(session):
            champions = session.scalar(
                select(func.count()).where(
                    Candidate.target_id == target.id, Candidate.status == Status.CHAMPION.value
                )
            )
            assert champions == 1
            weights = [r.weight for r in routing(session, target.name).routes]
            assert sum(weights) == pytest.approx(1.0)


@pytest.fixture
def db(pg_db):  # noqa: ANN001, ANN201 - these tests are about Postgres advisory locks and real processes
    return pg_db


def test_one_leader_acts_and_a_standby_takes_over(db, settings, make_artifact) -> None:
    now = datetime.now(UTC)
    canary_id = seed_target(db, settings, "intent_a", make_artifact, now=now, breach=True)
    first = Daemon(settings, "alpha")
    wait_for(lambda: lease_holder(db) == "alpha", daemons=[first])
    second = Daemon(settings, "beta")
    both = [first, second]
    try:
        wait_for(lambda: second.says.saw("beta is standby"), timeout=60, daemons=both)
        wait_for(lambda: len(aborts(db)) == 1, daemons=both)
        time.sleep(1.5)  # several more ticks of both processes
        assert aborts(db) == ["canary-daemon:alpha"] and lease_holder(db) == "alpha"
        with db.session() as session:
            assert canaries.get(session, canary_id).state == "aborted"
        first.kill()
        wait_for(lambda: lease_holder(db) == "beta", timeout=10, daemons=both)
        seed_target(db, settings, "intent_b", make_artifact, now=datetime.now(UTC), breach=True)
        wait_for(lambda: len(aborts(db)) == 2, daemons=both)
        assert sorted(aborts(db)) == ["canary-daemon:alpha", "canary-daemon:beta"]
    finally:
        for d in both:
            d.proc.kill()
            d.proc.wait(timeout=10)
    assert second.says.saw("beta is leader")


def test_kill_9_mid_tick_leaves_everything_consistent(db, settings, make_artifact) -> None:
    now = datetime.now(UTC)
    names = [f"intent_{i:02d}" for i in range(8)]
    for name in names:
        seed_target(db, settings, name, make_artifact, now=now, breach=True)
    crashy = Daemon(settings, "crashy", pace=0.4)
    try:
        wait_for(lambda: 0 < len(aborts(db)) < len(names), timeout=30, every=0.05, daemons=[crashy])
    finally:
        crashy.kill()
    done = len(aborts(db))
    assert 0 < done < len(names)
    assert_consistent(db)
    rescue = Daemon(settings, "rescue")
    try:
        wait_for(lambda: len(aborts(db)) == len(names), daemons=[rescue])
    finally:
        rescue.kill()
    assert_consistent(db)
