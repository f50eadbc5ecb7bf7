"""Claim, heartbeat and finish jobs.

Postgres: ``SELECT … FOR UPDATE SKIP LOCKED`` lets many workers claim concurrently without blocking
each other. SQLite: the write transaction (``BEGIN IMMEDIATE``) serialises claims; one worker.
A claim is a lease: a live worker renews it; a crashed worker's lease expires and the job is retried
(up to ``max_attempts``) or marked failed, so it is never lost and never runs twice at once.
A queued job is announced (``changes.Change("jobs")``) when its transaction commits: idle workers wake
at once (NOTIFY on Postgres, in-process on either engine) instead of at their next poll.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from gatekeeper import changes
from gatekeeper.db import is_postgres
from gatekeeper.jobs.models import Job

LEASE = timedelta(seconds=60)
# Called when a job is given up for good, so the row it works on (a run, an evaluation) fails too.
GiveUp = Callable[[Session, Job, str], None]


def enqueue(
    session: Session,
    *,
    kind: str,
    ref_id: object,
    payload: dict[str, Any] | None = None,
    max_attempts: int = 2,
    now: datetime,
) -> Job:
    job = Job(
        kind=kind,
        ref_id=str(ref_id),
        payload=payload or {},
        max_attempts=max_attempts,
        run_after=now,
        created_at=now,
    )
    session.add(job)
    session.flush()
    changes.announce(session, changes.Change("jobs", kind))
    return job


def _claimable(now: datetime, kinds: tuple[str, ...]):  # noqa: ANN202 - a SQLAlchemy clause
    ready = and_(Job.status == "queued", Job.run_after <= now)
    orphaned = and_(Job.status == "running", Job.lease_expires_at < now)
    return and_(Job.kind.in_(kinds), or_(ready, orphaned))


def waiting(session: Session, *, kinds: tuple[str, ...], now: datetime) -> bool:
    """Whether any job is claimable. A read: an idle worker's poll takes no write lock (on SQLite a
    write lock would also make the API's next write wait in SQLite's busy handler)."""
    return session.scalar(select(Job.id).where(_claimable(now, kinds)).limit(1)) is not None


def claim(
    session: Session,
    *,
    worker: str,
    kinds: tuple[str, ...],
    now: datetime,
    give_up: GiveUp,
    lease: timedelta = LEASE,
) -> Job | None:
    """Claim the oldest runnable job (or one whose worker died), in the caller's transaction."""
    while True:
        stmt = select(Job).where(_claimable(now, kinds)).order_by(Job.created_at).limit(1)
        stmt = stmt.with_for_update(skip_locked=True) if is_postgres(session) else stmt
        job = session.scalar(stmt)
        if job is None:
            return None
        if job.status == "running" and job.attempts >= job.max_attempts:
            reason = (
                f"worker {job.lease_owner} stopped renewing its lease; "
                f"gave up after {job.attempts} attempt(s)"
            )
            finish(session, job, ok=False, error=reason, now=now)
            give_up(session, job, reason)
            continue
        job.status, job.lease_owner = "running", worker
        job.lease_expires_at, job.attempts = now + lease, job.attempts + 1
        job.started_at = job.started_at or now
        session.flush()
        return job


def heartbeat(
    session: Session, *, job_id: uuid.UUID, worker: str, now: datetime, lease: timedelta = LEASE
) -> bool:
    """Renew the lease; False means another worker owns the job now and this one must stop."""
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.lease_owner == worker, Job.status == "running")
        .values(lease_expires_at=now + lease)
    )
    return result.rowcount == 1


def still_owned(session: Session, *, job_id: uuid.UUID, worker: str) -> bool:
    job = session.get(Job, job_id, with_for_update=True, populate_existing=True)
    return job is not None and job.status == "running" and job.lease_owner == worker


def finish(session: Session, job: Job, *, ok: bool, now: datetime, error: str | None = None) -> None:
    job.status = "succeeded" if ok else "failed"
    job.error, job.finished_at, job.lease_expires_at = error, now, None
    session.flush()


def pending(session: Session, kind: str, ref_id: object) -> Job | None:
    return session.scalar(
        select(Job).where(Job.kind == kind, Job.ref_id == str(ref_id), Job.status.in_(["queued", "running"]))
    )
