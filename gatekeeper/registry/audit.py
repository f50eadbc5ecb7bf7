"""The append-only, hash-chained audit log. Every state change writes one row in its own transaction.

Rows are chained at commit, not when recorded: the transaction locks the chain's head row as its very
last step, so that lock never waits behind a domain row lock held by another writer (no deadlock), and
concurrent writers append one after the other. A row recorded inside a savepoint that rolls back is
dropped with it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, TypedDict

from sqlalchemy import event, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, SessionTransaction

from gatekeeper.clock import utcnow
from gatekeeper.registry.chain import FIELDS, GENESIS, ChainRow, Verdict, first_break, link_hash
from gatekeeper.registry.models import AuditChainHead, AuditEvent


class Change(TypedDict, total=False):
    """What a row says changed, for wrappers that fix the entity (``canary.audit.record``)."""

    before: dict[str, Any] | None
    after: dict[str, Any] | None
    note: str | None


_PENDING = "gatekeeper.audit.pending"
_HEAD_ID = 1


def record(
    session: Session,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: object,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    note: str | None = None,
) -> AuditEvent:
    """Add an audit row to the caller's transaction (it commits or rolls back with the change).

    Who, what and on which entity are positional so that a call reads as one line: the audit log is
    written at every state change, and the calls should not drown the change they record."""
    row = AuditEvent(
        at=utcnow(),
        actor=actor,
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id),
        before=before,
        after=after,
        note=note,
    )
    session.info.setdefault(_PENDING, []).append((row, session.get_nested_transaction()))
    return row


def _head(session: Session) -> AuditChainHead:
    """The head row, locked; created empty when a fresh (or truncated) database has none yet."""
    head = session.get(AuditChainHead, _HEAD_ID, with_for_update=True, populate_existing=True)
    if head is not None:
        return head
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(
        insert(AuditChainHead).values(id=_HEAD_ID, hash=GENESIS, last_id=None).on_conflict_do_nothing()
    )
    return session.get(AuditChainHead, _HEAD_ID, with_for_update=True, populate_existing=True)


def _fields(row: AuditEvent) -> dict[str, Any]:
    return {name: getattr(row, name) for name in FIELDS}


@event.listens_for(Session, "before_commit")
def _seal(session: Session) -> None:
    """Chain this transaction's rows onto the head, as the last statements before COMMIT."""
    if session.in_nested_transaction() or not session.info.get(_PENDING):
        return  # a savepoint's release: its rows wait for the outer commit
    rows = [row for row, _ in session.info.pop(_PENDING)]
    session.flush()  # the domain rows' locks first: the head's lock must be the last one taken
    head = _head(session)
    for row in rows:
        row.prev_hash, row.hash = head.hash, link_hash(_fields(row), head.hash)
        head.hash = row.hash
        session.add(row)
    session.flush()
    head.last_id = rows[-1].id


def _inside(tag: SessionTransaction | None, ended: SessionTransaction) -> bool:
    while tag is not None:
        if tag is ended:
            return True
        tag = tag.parent
    return False


@event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session: Session, previous: SessionTransaction) -> None:
    """A rolled-back savepoint takes its audit rows with it; a full rollback takes them all."""
    pending = session.info.get(_PENDING)
    if pending and previous.nested:
        session.info[_PENDING] = [(row, tag) for row, tag in pending if not _inside(tag, previous)]
    elif pending:
        session.info.pop(_PENDING)


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # closed without a commit: nothing recorded may outlive it
        session.info.pop(_PENDING, None)


def query(
    session: Session,
    *,
    entity_type: str | None = None,
    entity_id: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    after_id: int | None = None,
    limit: int = 100,
) -> list[AuditEvent]:
    """Newest first, keyset-paginated by id."""
    stmt = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if entity_type:
        stmt = stmt.where(AuditEvent.entity_type == entity_type)
    if entity_id:
        stmt = stmt.where(AuditEvent.entity_id == entity_id)
    if actor:
        stmt = stmt.where(AuditEvent.actor == actor)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    if since:
        stmt = stmt.where(AuditEvent.at >= since)
    if after_id is not None:
        stmt = stmt.where(AuditEvent.id < after_id)
    return list(session.scalars(stmt))


def _chain_rows(session: Session, batch: int = 5000) -> Iterator[ChainRow]:
    """Every row in id order, streamed in keyset batches (the log can be large)."""
    after = 0
    while True:
        page = session.scalars(
            select(AuditEvent).where(AuditEvent.id > after).order_by(AuditEvent.id).limit(batch)
        ).all()
        for row in page:
            yield ChainRow(row.id, _fields(row), row.prev_hash, row.hash)
        if len(page) < batch:
            return
        after = page[-1].id
        session.expunge_all()


def verify(session: Session) -> Verdict:
    """Recompute the chain over the whole log against its head."""
    head = session.get(AuditChainHead, _HEAD_ID)
    return first_break(_chain_rows(session), head.hash if head else None)
