"""The predict-once cache: one immutable ``PredictionSet`` row per (source sha256, evalset file sha256),
its predictions stored as columns (``columnar.py``) with their sha256, verified on every read. The source
is the artifact's sha256 when Gatekeeper ran the model, or the submitted predictions file's sha256."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gatekeeper.db import Database
from gatekeeper.evaluation import columnar
from gatekeeper.evaluation.models import PredictionSet
from gatekeeper.evaluation.predictions import Predictions


def predictions_of(row: PredictionSet) -> Predictions:
    """A row's predictions: its columns, checked against their sha256 (or a row cached as JSON before)."""
    if row.arrays is None:
        return Predictions.from_payload(row.payload or {})
    what = f"of {row.source_sha256[:12]} on {row.file_name}"
    return columnar.decode(columnar.verified(bytes(row.arrays), row.arrays_sha256 or "", what=what))


def _rows(session: Session, source_sha: str, keys: list[str]) -> list[PredictionSet]:
    stmt = select(PredictionSet).where(
        PredictionSet.source_sha256 == source_sha, PredictionSet.file_sha256.in_(keys)
    )
    return list(session.scalars(stmt))


def lookup(session: Session, source_sha: str, file_sha: str) -> Predictions | None:
    """The cached predictions of ``source_sha`` on one evalset file, or None."""
    rows = _rows(session, source_sha, [file_sha])
    return predictions_of(rows[0]) if rows else None


def cached(db: Database, source_sha: str, keys: list[str]) -> dict[str, Predictions]:
    """The cached predictions of ``source_sha`` on each evalset file in ``keys`` that has them."""
    with db.session() as session:
        return {row.file_sha256: predictions_of(row) for row in _rows(session, source_sha, keys)}


def cached_payload(db: Database, source_sha: str, key: str) -> dict[str, Any] | None:
    """A JSON entry (an artifact's latency samples) or None."""
    with db.session() as session:
        rows = _rows(session, source_sha, [key])
        return rows[0].payload if rows else None


def _row(source_sha: str, key: str, name: str, preds: Predictions | None, payload: Any) -> PredictionSet:
    row = PredictionSet(source_sha256=source_sha, file_sha256=key, file_name=name, payload=payload)
    if preds is not None:
        row.arrays = columnar.encode(preds)
        row.arrays_sha256 = columnar.sha256(row.arrays)
    return row


def _add(session: Session, row: PredictionSet) -> None:
    """Insert one cache row in the caller's transaction (under a savepoint): an entry another
    transaction stored first is kept, and the caller's work goes on."""
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        pass


def add_files(session: Session, source_sha: str, files: dict[tuple[str, str], Predictions]) -> None:
    """Insert one model's predictions on several evalset files (``{(file sha, name): predictions}``) in
    one statement; if any was stored first, each row on its own."""
    try:
        with session.begin_nested():
            session.add_all([_row(source_sha, key, name, p, None) for (key, name), p in files.items()])
    except IntegrityError:
        for (key, name), preds in files.items():
            _add(session, _row(source_sha, key, name, preds, None))


def store(db: Database, source_sha: str, key: str, name: str, **content: Any) -> None:
    """One entry (``preds=`` predictions or ``payload=`` JSON) in a transaction of its own; an entry
    another transaction stored first is kept."""
    if unknown := set(content) - {"preds", "payload"}:
        raise TypeError(f"store() takes preds= or payload=, not {sorted(unknown)}")
    with db.transaction() as session:
        _add(session, _row(source_sha, key, name, content.get("preds"), content.get("payload")))
