"""Drift ingestion: prediction logs and labels, validated whole-batch and stored once per id.

Every function runs in the caller's transaction.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar, cast

from pydantic import BaseModel, ValidationError
from sqlalchemy import Table, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from gatekeeper.db import is_postgres
from gatekeeper.drift.models import DriftLabel, PredictionLog
from gatekeeper.drift.schemas import MAX_BATCH, IngestRead, LabelIn, LabelIngestRead, PredictionLogIn
from gatekeeper.errors import ValidationFailed
from gatekeeper.registry import service as registry
from gatekeeper.registry.models import Candidate, Target

log = logging.getLogger("gatekeeper.drift")
M = TypeVar("M", bound=BaseModel)
CHUNK = 5000  # ids per IN (...) list: well inside SQLite's and Postgres' parameter limits
MAX_ERRORS = 20
LOGS = cast(Table, PredictionLog.__table__)
LABELS = cast(Table, DriftLabel.__table__)


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _validated(rows: Any, model: type[M], what: str) -> list[M]:
    """Every row valid or nothing: the 422 names the first bad row's index and field."""
    if not isinstance(rows, list):
        raise ValidationFailed(f"{what} must be a JSON array of rows", field="body")
    if len(rows) > MAX_BATCH:
        raise ValidationFailed(
            f"at most {MAX_BATCH} rows per batch, got {len(rows)}; nothing was stored", field="body"
        )
    out, errors = [], []
    for i, row in enumerate(rows):
        try:
            out.append(model.model_validate(row))
        except ValidationError as exc:
            errors += [
                {"row": i, "field": ".".join(str(p) for p in e["loc"]) or "row", "msg": e["msg"]}
                for e in exc.errors()
            ]
            if len(errors) >= MAX_ERRORS:
                break
    if errors:
        first = errors[0]
        raise ValidationFailed(
            f"row {first['row']}: {first['field']}: {first['msg']}; nothing was stored",
            row=first["row"],
            field=first["field"],
            errors=errors[:MAX_ERRORS],
        )
    return out


def _insert(session: Session) -> Any:
    return pg_insert if is_postgres(session) else sqlite_insert


def insert_logs(session: Session) -> Any:
    """Insert log rows; a request_id the target already has is skipped (the first row stays)."""
    return _insert(session)(LOGS).on_conflict_do_nothing(index_elements=["target_id", "request_id"])


def _existing(
    session: Session, model: type[PredictionLog | DriftLabel], target_id: int, ids: list[str]
) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(ids):
        found.update(
            session.scalars(
                select(model.request_id).where(model.target_id == target_id, model.request_id.in_(chunk))
            )
        )
    return found


def _check_candidates(session: Session, target: Target, logs: list[PredictionLogIn]) -> None:
    wanted = {r.candidate_id for r in logs}
    known = set(
        session.scalars(
            select(Candidate.id).where(Candidate.target_id == target.id, Candidate.id.in_(wanted))
        )
    )
    for i, row in enumerate(logs):
        if row.candidate_id not in known:
            raise ValidationFailed(
                f"row {i}: candidate_id: {row.candidate_id} is not a candidate of {target.name}; "
                "nothing was stored",
                row=i,
                field="candidate_id",
            )


def log_values(target_id: int, r: PredictionLogIn) -> dict[str, Any]:
    return {
        "target_id": target_id,
        "request_id": r.request_id,
        "ts": r.ts,
        "candidate_id": r.candidate_id,
        "prediction": r.prediction,
        "confidence": r.confidence,
        "lang": r.lang,
        "cohort": r.cohort,
        "device": r.device,
        "catalog_tier": r.catalog_tier,
        "time_bucket": r.time_bucket,
        "text": r.text,
        "features": r.features or None,
    }


def ingest_logs(session: Session, *, target_name: str, rows: Any) -> IngestRead:
    """Store a batch of served predictions; a request_id already stored (or repeated) is ignored."""
    logs = _validated(rows, PredictionLogIn, "prediction logs")
    target = registry.get_target(session, target_name)
    _check_candidates(session, target, logs)
    first = list({r.request_id: r for r in reversed(logs)}.values())  # the first row of each request wins
    known = _existing(session, PredictionLog, target.id, [r.request_id for r in first])
    new = [r for r in first if r.request_id not in known]
    if new:
        session.execute(insert_logs(session), [log_values(target.id, r) for r in new])
        backfill_waiting_labels(session, target.id)
    return IngestRead(received=len(logs), accepted=len(new), duplicates=len(logs) - len(new))


def backfill_waiting_labels(session: Session, target_id: int) -> None:
    """Labels that arrived before their log get the served prediction, once the log is stored. Only
    the target's waiting labels are read (a partial index holds them), however large the batch."""
    logs, labels = LOGS, LABELS
    served = logs.c.target_id == labels.c.target_id, logs.c.request_id == labels.c.request_id
    session.execute(
        update(labels)
        .where(labels.c.target_id == target_id, labels.c.prediction.is_(None), exists().where(*served))
        .values(
            prediction=select(logs.c.prediction).where(*served).scalar_subquery(),
            candidate_id=select(logs.c.candidate_id).where(*served).scalar_subquery(),
        )
    )


def _served(session: Session, target_id: int, ids: list[str]) -> dict[str, tuple[str, uuid.UUID]]:
    out: dict[str, tuple[str, uuid.UUID]] = {}
    for chunk in _chunks(ids):
        rows = session.execute(
            select(PredictionLog.request_id, PredictionLog.prediction, PredictionLog.candidate_id).where(
                PredictionLog.target_id == target_id, PredictionLog.request_id.in_(chunk)
            )
        )
        out.update({rid: (pred, cand) for rid, pred, cand in rows})
    return out


def ingest_labels(session: Session, *, target_name: str, rows: Any) -> LabelIngestRead:
    """Store late labels; a new label for a known request_id replaces the old one (counted once)."""
    items = _validated(rows, LabelIn, "labels")
    target = registry.get_target(session, target_name)
    latest = {r.request_id: r for r in items}  # within a batch, the last label of a request wins
    ids = list(latest)
    replaced = _existing(session, DriftLabel, target.id, ids)
    served = _served(session, target.id, ids)
    values = [
        {
            "target_id": target.id,
            "request_id": rid,
            "label": r.label,
            "labelled_at": r.labelled_at,
            "prediction": served.get(rid, (None, None))[0],
            "candidate_id": served.get(rid, (None, None))[1],
        }
        for rid, r in latest.items()
    ]
    if values:
        table = LABELS
        stmt = _insert(session)(table)
        stmt = stmt.on_conflict_do_update(
            index_elements=["target_id", "request_id"],
            set_={
                "label": stmt.excluded.label,
                "labelled_at": stmt.excluded.labelled_at,
                "prediction": func.coalesce(stmt.excluded.prediction, table.c.prediction),
                "candidate_id": func.coalesce(stmt.excluded.candidate_id, table.c.candidate_id),
            },
        )
        session.execute(stmt, values)
    return LabelIngestRead(
        received=len(items), accepted=len(ids) - len(replaced), replaced=len(replaced), matched=len(served)
    )
