"""Evaluation routes: queue, follow, read the report, browse examples, record online metrics."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response

import reports
from gatekeeper.api.deps import CI, Reader, Serving, SessionDep, SettingsDep, TextQuery, TransactionalRoute
from gatekeeper.api.errors import UNKNOWN_TARGET
from gatekeeper.evaluation import examples as browser
from gatekeeper.evaluation import service as evaluations
from gatekeeper.evaluation import waits
from gatekeeper.evaluation.models import Evaluation
from gatekeeper.evaluation.modes.slices import parse_slice_key
from gatekeeper.evaluation.reporting import report_of
from gatekeeper.evaluation.schemas import (
    EvaluationCreate,
    EvaluationRead,
    OnlineMetricCreate,
    OnlineMetricRead,
)
from gatekeeper.readmodel import from_row
from gatekeeper.registry import service as registry

router = APIRouter(prefix="/v1", route_class=TransactionalRoute, tags=["evaluations"])


def evaluation_read(session: SessionDep, e: Evaluation, *, with_results: bool = True) -> EvaluationRead:
    decision = evaluations.decision_of(session, e)
    return EvaluationRead(
        id=e.id,
        candidate_id=e.candidate_id,
        champion_id=e.champion_id,
        target=registry.get_candidate(session, e.candidate_id).target.name,
        status=e.status,
        mode=e.mode,
        policy_version=e.policy_version,
        evalset_dir=e.evalset_dir,
        manifest_version=e.manifest_version,
        evalset_files=e.evalset_files or {},
        progress=e.progress or {},
        decision=(decision.details | {"verdict": decision.verdict, "id": str(decision.id)})
        if decision
        else None,
        verdict=decision.verdict if decision else None,
        need=(decision.details or {}).get("need", []) if decision else [],
        results=(e.results or None) if with_results else None,
        error=e.error,
        timings=e.timings or {},
        requested_by=e.requested_by,
        created_at=e.created_at,
        started_at=e.started_at,
        finished_at=e.finished_at,
    )


@router.post("/candidates/{candidate_id}/evaluations", status_code=status.HTTP_202_ACCEPTED)
def request_evaluation(
    candidate_id: str,
    session: SessionDep,
    settings: SettingsDep,
    actor: CI,
    spec: EvaluationCreate | None = None,
) -> dict[str, Any]:
    evaluation = evaluations.request_evaluation(
        session,
        candidate_id=candidate_id,
        spec=spec or EvaluationCreate(),
        actor=actor.name,
        settings=settings,
    )
    return {
        "id": str(evaluation.id),
        "status": evaluation.status,
        "mode": evaluation.mode,
        "candidate_id": str(evaluation.candidate_id),
    }


@router.get("/candidates/{candidate_id}/evaluations")
def list_evaluations(candidate_id: str, session: SessionDep, _: Reader) -> list[EvaluationRead]:
    candidate = registry.get_candidate(session, candidate_id)
    return [
        evaluation_read(session, e, with_results=False)
        for e in evaluations.evaluations_of(session, candidate)
    ]


@router.get("/evaluations", responses=UNKNOWN_TARGET)
def list_all_evaluations(
    session: SessionDep,
    _: Reader,
    target: TextQuery = None,
    status: TextQuery = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[EvaluationRead]:
    """Recent evaluations (without results), newest first, for the running/recent view."""
    rows = evaluations.recent(session, target=target, status=status, limit=limit)
    return [evaluation_read(session, e, with_results=False) for e in rows]


async def _waited(
    request: Request,
    evaluation_id: str,
    _: Reader,
    wait: Annotated[float | None, Query(gt=0, le=waits.MAX_WAIT)] = None,
) -> None:
    """With ``wait=S``, hold the read until the evaluation changes or ends (or S seconds pass), on the
    event loop: no thread and no connection is held while it waits."""
    if wait is not None:
        await request.app.state.evaluation_waits.wait(evaluation_id, wait)


@router.get("/evaluations/{evaluation_id}")
def get_evaluation(
    evaluation_id: str,
    session: SessionDep,
    _: Annotated[None, Depends(_waited)],
    results: bool = True,
) -> EvaluationRead:
    """An evaluation; ``wait=S`` long-polls: the answer comes once its progress or status changes, at
    once when it has ended, or after S seconds (``gatekeeper evaluate --wait`` follows it this way)."""
    return evaluation_read(session, evaluations.get_evaluation(session, evaluation_id), with_results=results)


@router.get(
    "/evaluations/{evaluation_id}/report",
    response_class=Response,
    responses={200: {"content": {"application/json": {}, "text/markdown": {}, "text/html": {}}}},
)
def get_report(
    evaluation_id: str, session: SessionDep, _: Reader, format: Literal["json", "md", "html"] = "json"
) -> Response:  # noqa: A002 - the API's own name
    report = report_of(session, evaluations.get_evaluation(session, evaluation_id))
    if format == "json":
        return JSONResponse(report)
    if format == "md":
        return PlainTextResponse(reports.render(report, "md"), media_type="text/markdown; charset=utf-8")
    return HTMLResponse(reports.render(report, "html"))


@router.get(
    "/evaluations/{evaluation_id}/examples",
    responses={409: {"description": "the evaluation is not done yet"}},
)
def browse_examples(
    evaluation_id: str,
    session: SessionDep,
    settings: SettingsDep,
    _: Reader,
    role: Literal["golden", "holdout", "adversarial", "replay"] = "golden",
    label: TextQuery = None,
    predicted: TextQuery = None,
    lang: TextQuery = None,
    slice: TextQuery = None,  # noqa: A002
    min_confidence: Annotated[float | None, Query(ge=0, le=1)] = None,
    max_confidence: Annotated[float | None, Query(ge=0, le=1)] = None,
    disagree: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """Examples side by side (candidate vs champion), filtered like the reviewer's example browser."""
    evaluation = evaluations.get_evaluation(session, evaluation_id)
    filters = browser.Filters(
        label=label,
        predicted=predicted,
        lang=lang,
        slice=parse_slice_key(slice) if slice is not None else None,
        min_confidence=min_confidence,
        max_confidence=max_confidence,
        disagree=disagree,
    )
    return browser.browse(
        session, settings, evaluation, role=role, filters=filters, limit=limit, offset=offset
    )


@router.post("/candidates/{candidate_id}/online-metrics", status_code=status.HTTP_201_CREATED)
def record_online_metric(
    candidate_id: str, body: OnlineMetricCreate, session: SessionDep, actor: Serving
) -> OnlineMetricRead:
    row = evaluations.record_online_metric(
        session, candidate_id=candidate_id, actor=actor.name, **body.model_dump()
    )
    return from_row(OnlineMetricRead, row)
