"""Drift hub routes: ingest logs and labels, read results and events, acknowledge, Evidently report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import IO, Annotated, Any, Literal

import anyio.to_thread
from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import HTMLResponse

from gatekeeper.api.deps import (
    DatabaseDep,
    Oncall,
    Reader,
    Serving,
    SessionDep,
    SettingsDep,
    TransactionalRoute,
)
from gatekeeper.clock import utcnow
from gatekeeper.config import Settings
from gatekeeper.db import Database
from gatekeeper.drift import bulk as drift_bulk
from gatekeeper.drift import events as drift_events
from gatekeeper.drift import ingest as drift_ingest
from gatekeeper.drift import references as drift_references
from gatekeeper.drift import report as window_report
from gatekeeper.drift import windows as drift_windows
from gatekeeper.drift.models import KINDS, DriftEvent, DriftReference, DriftResult
from gatekeeper.drift.schemas import (
    MAX_BATCH,
    AckIn,
    AckRead,
    DriftRead,
    EventRead,
    IngestRead,
    LabelIngestRead,
    ReferenceRead,
    ResultRead,
)
from gatekeeper.readmodel import from_row
from gatekeeper.registry import service as registry
from gatekeeper.registry.models import Target

router = APIRouter(prefix="/v1", route_class=TransactionalRoute, tags=["drift"])
HISTORY = timedelta(days=7)
Rows = Annotated[list[Any], Body(description=f"a JSON array of at most {MAX_BATCH:,} rows")]


def reference_read(ref: DriftReference, target: str) -> ReferenceRead:
    profile = drift_references.profile_of(ref)
    features = [
        *profile.numeric,
        *profile.categorical,
        *([profile.text_feature] if profile.text_feature else []),
    ]
    return from_row(
        ReferenceRead,
        ref,
        target=target,
        rows=profile.n,
        features=features,
        classes=list(profile.classes),
        reference_f1=profile.reference_f1,
    )


def result_read(r: DriftResult, settings: Settings, target: str) -> ResultRead:
    path = (
        window_report.report_path(settings, target, r.window_start)
        if r.kind in drift_windows.FAST_KINDS
        else None
    )
    report = str(path) if path is not None and path.is_file() else None
    return from_row(ResultRead, r, figures=r.figures or {}, report_path=report)


def event_read(e: DriftEvent, target: str) -> EventRead:
    ack = (
        AckRead(
            by=e.ack_by, at=e.ack_at, reason=e.ack_reason or "", seasonal=e.seasonal, until=e.suppress_until
        )
        if e.ack_by and e.ack_at
        else None
    )
    return from_row(
        EventRead,
        e,
        target=target,
        reasons=list(e.reasons or []),
        figures=e.figures or {},
        triage=e.triage or {},
        ack=ack,
    )


def _target_name(session: SessionDep, target_id: int) -> str:
    target = session.get(Target, target_id)
    return target.name if target is not None else str(target_id)


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


@router.post("/targets/{target}/prediction-logs")
def post_prediction_logs(target: str, rows: Rows, session: SessionDep, _: Serving) -> IngestRead:
    """Log served predictions: ``{ts, request_id, candidate_id, features, prediction, confidence, lang,
    cohort, device, catalog_tier, time_bucket, text?}``. A repeated request_id is ignored; one bad row
    refuses the batch (422 naming the row index and field)."""
    return drift_ingest.ingest_logs(session, target_name=target, rows=rows)


_BULK_BODY = {"schema": {"type": "string", "format": "binary"}}


@router.post(
    "/targets/{target}/prediction-logs/bulk",
    responses={413: {"description": "the body is over GATEKEEPER_MAX_BULK_BYTES"}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {drift_bulk.MEDIA_TYPE: _BULK_BODY, drift_bulk.ARROW_MEDIA_TYPE: _BULK_BODY},
        }
    },
)
async def post_prediction_logs_bulk(
    target: str, request: Request, db: DatabaseDep, settings: SettingsDep, actor: Serving
) -> IngestRead:
    """Log served predictions in bulk, with the JSON route's fields: a JSONL body (``Content-Type:
    application/x-ndjson``, one prediction log a line) or an Arrow IPC stream (``Content-Type:
    application/vnd.apache.arrow.stream``, one column a field). One transaction: all stored, or, at the
    first bad row, nothing (422 naming ``field`` and the JSONL ``line``, from 1, or the Arrow ``row``,
    from 0). A request_id already stored or repeated is ignored, as on the JSON route."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await drift_bulk.spool(request.stream(), settings.max_bulk_bytes)
    with body:
        return await anyio.to_thread.run_sync(_ingest_bulk, db, target, body, media_type, actor.name)


def _ingest_bulk(db: Database, target: str, body: IO[bytes], media_type: str, actor: str) -> IngestRead:
    with db.transaction() as session:
        return drift_bulk.ingest_bulk(
            session, target_name=target, source=body, media_type=media_type, actor=actor
        )


@router.post("/targets/{target}/labels")
def post_labels(target: str, rows: Rows, session: SessionDep, _: Serving) -> LabelIngestRead:
    """Late labels ``{request_id, label, labelled_at}``; a new label for a request replaces the old one."""
    return drift_ingest.ingest_labels(session, target_name=target, rows=rows)


@router.get("/targets/{target}/drift")
def get_drift(
    target: str,
    session: SessionDep,
    settings: SettingsDep,
    _: Reader,
    since: datetime | None = None,
    live: bool = False,
    limit: Annotated[int, Query(ge=1, le=20_000)] = 2016,
) -> DriftRead:
    """Latest result and window history per kind (default: the last 7 days); ``live`` adds figures of
    the trailing windows computed now (not stored)."""
    t = registry.get_target(session, target)
    now = utcnow()
    start = _aware(since) or now - HISTORY
    ref = drift_references.current_reference(session, t)
    history = {
        kind: [
            result_read(r, settings, t.name)
            for r in drift_windows.results_of(session, target_id=t.id, kind=kind, since=start, limit=limit)
        ]
        for kind in KINDS
    }
    events = drift_events.list_events(session, target_name=t.name, status="live")
    return DriftRead(
        target=t.name,
        reference=reference_read(ref, t.name) if ref else None,
        latest={kind: rows[-1] if rows else None for kind, rows in history.items()},
        history=history,
        live=drift_windows.live_figures(session, ref=ref, now=now, cadence=drift_windows.Cadence())
        if live and ref
        else None,
        events=[event_read(e, t.name) for e in events],
    )


@router.get("/targets/{target}/drift/events")
def list_drift_events(
    target: str,
    session: SessionDep,
    _: Reader,
    status: Literal["live", "open", "acknowledged", "resolved"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[EventRead]:
    return [
        event_read(e, target)
        for e in drift_events.list_events(session, target_name=target, status=status, limit=limit)
    ]


@router.get(
    "/targets/{target}/drift/report",
    response_class=HTMLResponse,
    responses={409: {"description": "the logs of that window are no longer kept"}},
)
def drift_report(
    target: str, session: SessionDep, settings: SettingsDep, _: Reader, window_start: datetime | None = None
) -> HTMLResponse:
    """Evidently's report of the latest (or the given) input window; saved once under the report dir."""
    path, _result = window_report.render_report(
        session, settings, target_name=target, window_start=_aware(window_start)
    )
    return HTMLResponse(path.read_text(encoding="utf-8"), headers={"X-Report-Path": str(path)})


@router.get("/drift-events/{event_id}")
def get_drift_event(event_id: str, session: SessionDep, _: Reader) -> EventRead:
    event = drift_events.get_event(session, event_id)
    return event_read(event, _target_name(session, event.target_id))


@router.post("/drift-events/{event_id}/ack")
def ack_drift_event(event_id: str, body: AckIn, session: SessionDep, actor: Oncall) -> EventRead:
    """Acknowledge; ``seasonal: true`` (known pattern) sets the action to none and suppresses this
    kind's alerts until ``until``."""
    event = drift_events.acknowledge(session, event_id=event_id, spec=body, actor=actor.name, now=utcnow())
    return event_read(event, _target_name(session, event.target_id))
