"""``gatekeeper canary-daemon``: every tick, apply the abort rules to every running canary, abort on a
trigger (routing back to the champion in the same transaction), and advance stages whose time is up.

One leader at a time: on Postgres a session advisory lock, held for the life of the leader's
connection, so a crashed leader releases it and a standby takes over at its next tick; on SQLite an
exclusive lock file (one process). Each canary's change is its own transaction, so a kill -9 between
two canaries leaves every canary either untouched or fully changed.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, text

from gatekeeper.canary import bake
from gatekeeper.canary import rules as abort_rules
from gatekeeper.canary import service as canaries
from gatekeeper.canary import windows as canary_windows
from gatekeeper.canary.models import Canary, DaemonLease
from gatekeeper.clock import Clock, SystemClock
from gatekeeper.config import Settings
from gatekeeper.db import Database
from gatekeeper.policy.schema import CanaryPolicy, Policy
from gatekeeper.promotion import shadow
from gatekeeper.registry import service as registry
from gatekeeper.registry.models import Target

log = logging.getLogger("gatekeeper.canary.daemon")
LEASE_NAME = "canary-daemon"
ADVISORY_KEY = 0x47_4B_43_44  # "GKCD"
LOOKBACK = timedelta(hours=25)  # trailing 24 h of holdout sigma, plus the runs being judged


class Leadership:
    """Try to become (and stay) the one daemon that acts."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._conn: Any = None
        self._file: Any = None

    def acquire(self) -> bool:
        if self.db.dialect == "postgresql":
            if self._conn is None:
                self._conn = self.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            if self._conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_KEY}).scalar():
                return True
            return False
        if self._file is None:
            path = Path(str(self.db.engine.url.database) + f".{LEASE_NAME}.lock")
            self._file = path.open("a+")
            try:
                fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self._file.close()
                self._file = None
                return False
        return True

    def held(self) -> bool:
        """Still leader? On Postgres this also notices a dropped connection (the lock went with it)."""
        if self.db.dialect != "postgresql":
            return self._file is not None
        try:
            held = self._conn.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND pid = pg_backend_pid() AND objid = :k"
                ),
                {"k": ADVISORY_KEY},
            ).scalar()
        except Exception:
            self._conn = None
            return False
        return bool(held)

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_KEY})
            finally:
                self._conn.close()
                self._conn = None
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


@dataclass
class TickReport:
    at: datetime
    canaries: int = 0
    aborted: list[str] = field(default_factory=list)
    advanced: list[str] = field(default_factory=list)
    baked: list[str] = field(default_factory=list)  # bakes that ended: passed or rolled back
    starved: list[str] = field(default_factory=list)  # held at their share: time up, evidence short
    seconds: float = 0.0
    load_seconds: float = 0.0
    rows_read: int = 0


@dataclass(frozen=True)
class _Running:
    """A running canary as the tick read it, before it judges the canary in a transaction of its own."""

    canary_id: uuid.UUID
    armed_since: datetime
    stage_ends_at: datetime
    deadline: datetime
    evidence_since: datetime
    stage: dict[str, Any]
    policy: Policy
    rules: abort_rules.AbortRules


@dataclass
class CanaryDaemon:
    """The daemon's state between ticks: its leader name (host, pid and a tag, so two daemons on one host
    differ) and the policies it already parsed."""

    db: Database
    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    name: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:4]}")
    echo: Callable[[str], None] = print
    pace_seconds: float = 0.0  # pause between canaries: lets crash tests kill a tick half-way
    _policies: dict[tuple[int, int], tuple[Policy, abort_rules.AbortRules]] = field(default_factory=dict)
    _cache: canary_windows.WindowCache = field(
        default_factory=lambda: canary_windows.WindowCache(int(LOOKBACK.total_seconds()))
    )

    @property
    def actor(self) -> str:
        return f"canary-daemon:{self.name}"

    def _policy(self, session: Any, target: Any) -> tuple[Policy, abort_rules.AbortRules]:
        key = (target.id, target.policy_version)
        if key not in self._policies:
            policy = registry.policy_of(session, target)
            self._policies[key] = (policy, canaries.rules_of(policy))
        return self._policies[key]

    def _rules(self, session: Any, target: Any) -> abort_rules.AbortRules:
        return self._policy(session, target)[1]

    def _running(self) -> list[_Running]:
        with self.db.session() as session:
            rows = session.execute(
                select(Canary, Target)
                .join(Target, Target.id == Canary.target_id)
                .where(Canary.state == "running")
            ).all()
            out = []
            for c, t in rows:
                policy, rules = self._policy(session, t)
                ends, since = canaries.stage_ends_at(c), canaries.judged_since(c)
                deadline = canaries.deadline_of(c, policy)
                out.append(
                    _Running(c.id, c.armed_since, ends, deadline, since, c.plan[c.stage], policy, rules)
                )
            return out

    def tick(self) -> TickReport:
        """One pass over every running canary (call only while leader)."""
        began = time.perf_counter()
        now = self.clock.now()
        report = TickReport(at=now)
        running = self._running()
        report.canaries = len(running)
        baking = self._load(running, now, report)
        report.load_seconds = time.perf_counter() - began
        for r in running:
            judging = time.perf_counter()  # the rollback SLA counts from here
            trigger = self.first_trigger(
                self._cache.arrays(r.canary_id), r.rules, armed_since=r.armed_since, now=now
            )
            if trigger is None and self._waits(r, now):
                if now >= r.stage_ends_at:
                    report.starved.append(str(r.canary_id))
                continue  # nothing to change: no transaction, no lock
            outcome = self._act(r, trigger, now, judging)
            if self.pace_seconds:
                time.sleep(self.pace_seconds)
            if outcome and outcome.startswith("aborted"):
                report.aborted.append(str(r.canary_id))
            elif outcome and outcome.startswith("held"):
                report.starved.append(str(r.canary_id))
            elif outcome:
                report.advanced.append(f"{r.canary_id}: {outcome}")
        windows = {cid: self._cache.arrays(cid) for cid in baking}
        report.baked = bake.tick(
            self.db, self.settings, windows, now=now, actor=self.actor, echo=self.echo, rules_for=self._rules
        )
        shadow.conclude_due(self.db, now=now, settings=self.settings, actor=self.actor, echo=self.echo)
        self._heartbeat(now)
        report.seconds = time.perf_counter() - began
        return report

    def _load(self, running: list[_Running], now: datetime, report: TickReport) -> list[uuid.UUID]:
        """Bring the window cache up to date for the running canaries and the baking ones (from their
        reference day); returns the baking ones, the only ones this tick's bake may judge."""
        with self.db.session() as session:
            floors = bake.baking(session)
            baking = list(floors)
            armed = [r for r in running if r.rules.rules != "seed"]  # sequential: judged since armed
            floors |= {r.canary_id: int(r.armed_since.timestamp()) for r in armed}
            ids = [r.canary_id for r in running] + baking
            report.rows_read = self._cache.refresh(session, ids, now_s=int(now.timestamp()), floors=floors)
            for r in running:
                if now >= r.stage_ends_at:  # only these need their stage's evidence, read past the lookback
                    self._cache.ledger(session, r.canary_id, int(r.evidence_since.timestamp()))
        return baking

    @staticmethod
    def first_trigger(
        arrays: abort_rules.WindowArrays,
        rules: abort_rules.AbortRules,
        *,
        armed_since: datetime,
        now: datetime,
    ) -> abort_rules.Trigger | None:
        """Judge canary windows that ended by now and started after the canary was (re-)armed."""
        lo, hi = armed_since.timestamp(), now.timestamp()
        keep = (arrays.canary.start >= lo) & (arrays.canary.end <= hi)
        judged = abort_rules.WindowArrays(arrays.canary.select(keep), arrays.holdout, arrays.baseline)
        found = abort_rules.evaluate(judged, rules)
        return found[0] if found else None

    def _evidence_of(self, r: _Running, now: datetime) -> canaries.EvidenceOf:
        """The current stage's evidence from the cached ledger (pure: no query inside the transaction)."""

        def of(canary: Canary) -> abort_rules.Evidence:
            arrays = self._cache.ledger_arrays(r.canary_id)
            return canaries.stage_evidence(canary, arrays, r.policy, now=now)

        return of

    def _waits(self, r: _Running, now: datetime) -> bool:
        """Nothing to do: the stage's time is not up, or it is held (evidence short, deadline ahead)."""
        if now < r.stage_ends_at:
            return True
        if now >= r.deadline:
            return False
        arrays = self._cache.ledger_arrays(r.canary_id)
        found = canaries.evidence_for(arrays, r.policy, stage=r.stage, since=r.evidence_since, now=now)
        return not found.enough

    def _act(
        self, r: _Running, trigger: abort_rules.Trigger | None, now: datetime, judging: float
    ) -> str | None:
        with self.db.transaction() as session:
            canary = canaries.get(session, r.canary_id, lock=True)
            if canary.state != "running":  # on-call acted since we read it
                return None
            if trigger is not None:
                canaries.abort(
                    session,
                    canary,
                    trigger=trigger,
                    actor=self.actor,
                    now=now,
                    settings=self.settings,
                    began=judging,
                )
                self.echo(f"[CANARY] {r.canary_id} aborted: {trigger.rule}")
                return "aborted"
            moved = canaries.advance_if_due(
                session,
                canary,
                now=now,
                actor=self.actor,
                evidence_of=self._evidence_of(r, now),
                policy=r.policy,
                settings=self.settings,
            )
            if moved:
                self.echo(f"[CANARY] {r.canary_id} {moved}")
            return moved

    def _heartbeat(self, now: datetime) -> None:
        with self.db.transaction() as session:
            lease = session.get(DaemonLease, LEASE_NAME, with_for_update=True)
            if lease is None:
                session.add(
                    DaemonLease(name=LEASE_NAME, holder=self.name, acquired_at=now, heartbeat_at=now, ticks=1)
                )
            elif lease.holder != self.name:
                lease.holder, lease.acquired_at, lease.heartbeat_at, lease.ticks = self.name, now, now, 1
            else:
                lease.heartbeat_at, lease.ticks = now, lease.ticks + 1

    def tick_seconds(self) -> float:
        """The policies' ``canary.tick_minutes`` (the shortest among running canaries' targets)."""
        minutes = [policy.canary.tick_minutes for policy, _ in self._policies.values()]
        return 60.0 * min(minutes or [CanaryPolicy().tick_minutes])

    def run(
        self, *, tick_seconds: float | None = None, once: bool = False, stop: threading.Event | None = None
    ) -> None:
        """Tick while leader; otherwise wait as a standby and try again every tick (``tick_seconds``
        overrides the policies' ``canary.tick_minutes``)."""
        from gatekeeper.notify.service import Sender

        stop = stop or threading.Event()
        leader = Leadership(self.db)
        claim = timedelta(seconds=self.settings.outbox_claim_seconds)
        sender = Sender(self.db, clock=self.clock, claim=claim).start()
        was_leader: bool | None = None  # unknown: the first pass always says which it is
        try:
            while not stop.is_set():
                is_leader = (leader.held() or leader.acquire()) if was_leader else leader.acquire()
                if is_leader != was_leader:
                    role = "leader" if is_leader else "standby"
                    self.echo(
                        f"[DAEMON] {self.name} is {role} at {time.time():.3f}"
                    )  # epoch s: takeover time
                    was_leader = is_leader
                if is_leader:
                    report = self.tick()
                    self.echo(
                        f"[TICK] {report.at:%Y-%m-%dT%H:%M:%SZ} canaries={report.canaries} "
                        f"aborted={len(report.aborted)} advanced={len(report.advanced)} "
                        f"took={report.seconds * 1000:.0f}ms"
                    )
                if once:
                    break
                stop.wait(tick_seconds if tick_seconds is not None else self.tick_seconds())
        finally:
            sender.close()
            leader.release()
