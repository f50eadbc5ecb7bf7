"""Registry routes: thin wrappers that parse, check the role, call the service, shape the reply."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response, status

from gatekeeper.api.deps import (
    CI,
    Admin,
    CachedReader,
    ClockDep,
    IdempotencyKey,
    IdQuery,
    IfMatch,
    Oncall,
    Reader,
    SessionDep,
    SettingsDep,
    TextQuery,
    TransactionalRoute,
)
from gatekeeper.api.errors import UNKNOWN_TARGET
from gatekeeper.canary import backtest_sources, bake, routing_cache
from gatekeeper.drift import references as drift_references
from gatekeeper.idempotency import service as idempotency
from gatekeeper.registry import audit
from gatekeeper.registry import service as registry
from gatekeeper.registry.schemas import (
    AuditRead,
    AuditVerifyRead,
    CandidateCreate,
    CandidatePage,
    CandidateRead,
    DecisionRead,
    PolicyUpdate,
    ReasonIn,
    RoutingRead,
    TargetCreate,
    TargetRead,
    TrainingRunCreate,
    TrainingRunRead,
    WhoAmIRead,
    audit_read,
    candidate_read,
    decision_read,
    training_run_read,
)
from gatekeeper.training import service as training

router = APIRouter(prefix="/v1", route_class=TransactionalRoute)


def _target_read(session: SessionDep, target) -> TargetRead:  # noqa: ANN001
    return TargetRead(
        name=target.name,
        task=target.task,
        policy_version=target.policy_version,
        always_extended_canary=target.always_extended_canary,
        rollback_sla_seconds=target.rollback_sla_seconds,
        routing_generation=target.routing_generation,
        created_at=target.created_at,
        created_by=target.created_by,
        policy=registry.policy_of(session, target).model_dump(mode="json"),
        champion=(
            {"id": str(champ.id), "version": champ.version}
            if (champ := registry.champion_of(session, target))
            else None
        ),
    )


@router.post("/targets", status_code=status.HTTP_201_CREATED, tags=["targets"])
def create_target(spec: TargetCreate, session: SessionDep, actor: Admin) -> TargetRead:
    return _target_read(session, registry.create_target(session, spec=spec, actor=actor.name))


@router.get("/targets", tags=["targets"])
def list_targets(session: SessionDep, _: Reader) -> list[TargetRead]:
    return [_target_read(session, t) for t in registry.list_targets(session)]


@router.get("/targets/{target}", tags=["targets"])
def get_target(target: str, session: SessionDep, _: Reader) -> TargetRead:
    return _target_read(session, registry.get_target(session, target))


@router.put("/targets/{target}/policy", tags=["targets"])
def update_policy(target: str, body: PolicyUpdate, session: SessionDep, actor: Admin) -> TargetRead:
    """Pin a new policy version; the answer carries the backtest of the current and the new abort rules over
    the recent recorded canaries (``backtest``: the schema of ``gatekeeper backtest --format json``)."""
    old = registry.policy_of(session, registry.get_target(session, target))
    updated = registry.update_policy(session, target_name=target, text=body.policy, actor=actor.name)
    new = registry.policy_of(session, updated)
    comparison = backtest_sources.policy_comparison(session, target_id=updated.id, old=old, new=new)
    return _target_read(session, updated).model_copy(update={"backtest": comparison})


@router.get("/targets/{target}/latest", tags=["targets"])
def latest(target: str, session: SessionDep, _: Reader) -> CandidateRead:
    return candidate_read(registry.latest(session, target))


@router.get("/targets/{target}/champion", tags=["targets"])
def champion(target: str, session: SessionDep, _: Reader) -> CandidateRead:
    return candidate_read(registry.champion(session, target))


@router.get(
    "/targets/{target}/routing",
    tags=["routing"],
    response_model=RoutingRead,
    responses={304: {"description": "If-None-Match holds the current ETag: the routing is unchanged"}},
)
async def routing(
    target: str,
    request: Request,
    _: CachedReader,
    if_none_match: Annotated[str | None, Header(alias="If-None-Match", max_length=1000)] = None,
    wait_for_generation: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
    timeout: Annotated[float, Query(gt=0, le=routing_cache.MAX_WAIT)] = routing_cache.MAX_WAIT,
) -> Response:
    """The routing table; its ETag is the routing generation (``If-None-Match`` answers 304). With
    ``wait_for_generation=N`` the answer waits until the generation is no longer N, at most ``timeout``
    seconds (a long-poll: a fleet hears of an abort within a second without hammering)."""
    cache: routing_cache.RoutingCache = request.app.state.routing
    if wait_for_generation is None:
        entry = await cache.read(target)
    else:
        entry = await cache.wait_newer(target, wait_for_generation, timeout)
    code, headers, body = routing_cache.answer(entry, if_none_match)
    return Response(body, status_code=code, headers=headers)


@router.post(
    "/targets/{target}/rollback",
    tags=["routing"],
    responses={412: {"description": "If-Match names a champion that is no longer the champion"}},
)
def rollback(
    target: str,
    body: ReasonIn,
    session: SessionDep,
    clock: ClockDep,
    actor: Oncall,
    key: IdempotencyKey = None,
    if_match: IfMatch = None,
) -> dict:
    """Champion back to the previous one. Retry-safe: an ``Idempotency-Key`` replays the first answer, and
    ``If-Match`` (the champion's id or ``v<version>``) refuses with 412 once another rolled it back."""

    def change() -> dict:
        failed, restored = registry.rollback(
            session, target_name=target, reason=body.reason, actor=actor.name, if_match=if_match
        )
        bake.end_on_manual_rollback(session, failed=failed, actor=actor.name, now=clock.now())
        return {
            "rolled_back": candidate_read(failed).model_dump(mode="json"),
            "champion": candidate_read(restored).model_dump(mode="json"),
        }

    route = f"POST /v1/targets/{target}/rollback"
    body_in = {**body.model_dump(mode="json"), "if_match": if_match}
    return idempotency.once(session, actor=actor.name, key=key, route=route, body=body_in, change=change)


@router.post(
    "/candidates",
    status_code=status.HTTP_201_CREATED,
    tags=["candidates"],
    responses={200: {"description": "the same artifact was already registered"}},
)
def register(
    spec: CandidateCreate, response: Response, session: SessionDep, settings: SettingsDep, actor: CI
) -> CandidateRead:
    candidate, created = registry.register_candidate(session, spec=spec, actor=actor.name, settings=settings)
    if not created:
        response.status_code = status.HTTP_200_OK
    return candidate_read(candidate)


@router.get("/candidates", tags=["candidates"], responses=UNKNOWN_TARGET)
def list_candidates(
    session: SessionDep,
    _: Reader,
    target: TextQuery = None,
    status: TextQuery = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: TextQuery = None,
) -> CandidatePage:
    items, next_cursor = registry.list_candidates(
        session, target=target, status=status, limit=limit, cursor=cursor
    )
    return CandidatePage(items=[candidate_read(c) for c in items], next_cursor=next_cursor)


@router.get("/candidates/{candidate_id}", tags=["candidates"])
def get_candidate(candidate_id: str, session: SessionDep, _: Reader) -> CandidateRead:
    return candidate_read(registry.get_candidate(session, candidate_id))


@router.get("/candidates/{candidate_id}/decisions", tags=["candidates"])
def decisions(candidate_id: str, session: SessionDep, _: Reader) -> list[DecisionRead]:
    return [
        decision_read(d)
        for d in registry.decisions_of(session, registry.get_candidate(session, candidate_id))
    ]


@router.post("/candidates/{candidate_id}/promote", tags=["candidates"])
def promote_first(
    candidate_id: str,
    body: ReasonIn,
    session: SessionDep,
    settings: SettingsDep,
    actor: Admin,
    key: IdempotencyKey = None,
) -> CandidateRead:
    """A target's first champion; an ``Idempotency-Key`` makes a retry after a lost answer replay it."""

    def change() -> dict:
        candidate = registry.promote_first(
            session, candidate_id=candidate_id, reason=body.reason, actor=actor.name
        )
        drift_references.on_promoted(session, candidate=candidate, settings=settings)
        return candidate_read(candidate).model_dump(mode="json")

    route = f"POST /v1/candidates/{candidate_id}/promote"
    body_in = body.model_dump(mode="json")
    return idempotency.once(session, actor=actor.name, key=key, route=route, body=body_in, change=change)


@router.post(
    "/training-runs",
    status_code=status.HTTP_201_CREATED,
    tags=["training"],
    responses={202: {"description": "queued: the worker will run the trainer"}},
)
def create_training_run(
    spec: TrainingRunCreate, response: Response, session: SessionDep, settings: SettingsDep, actor: CI
) -> TrainingRunRead:
    """Record a run that happened elsewhere, or (with ``trainer`` and ``config``) queue one to run here."""
    if spec.config is not None:
        request = training.RunRequest(spec.trainer, spec.config, spec.tags, spec.register_output)
        run = training.create_run(session, request, actor=actor.name, settings=settings, enqueue=True)
        response.status_code = status.HTTP_202_ACCEPTED
        return training_run_read(run)
    target = spec.target or str(spec.tags.get("model_target") or "")
    run = registry.record_training_run(
        session,
        target_name=target,
        trainer=spec.trainer,
        tags=spec.tags,
        actor=actor.name,
        status=spec.status,
        params=spec.params,
        metrics=spec.metrics,
        output_uri=spec.output_uri,
        output_sha256=spec.output_sha256,
        log_path=spec.log_path,
        started_at=spec.started_at,
        finished_at=spec.finished_at,
    )
    return training_run_read(run)


@router.get("/training-runs", tags=["training"], responses=UNKNOWN_TARGET)
def list_training_runs(
    session: SessionDep,
    _: Reader,
    target: TextQuery = None,
    status: TextQuery = None,
    trainer: TextQuery = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[TrainingRunRead]:
    runs = registry.list_training_runs(session, target=target, status=status, trainer=trainer, limit=limit)
    registered = registry.candidates_of_runs(session, [r.id for r in runs])
    return [training_run_read(r, registered.get(r.id)) for r in runs]


@router.get("/training-runs/{run_id}", tags=["training"])
def get_training_run(run_id: str, session: SessionDep, _: Reader) -> TrainingRunRead:
    run = registry.get_training_run(session, run_id)
    return training_run_read(run, registry.candidates_of_runs(session, [run.id]).get(run.id))


@router.get("/whoami", tags=["auth"])
def whoami(actor: Reader) -> WhoAmIRead:
    """The token's name and role, so a client can show who it is and hide what it may not do."""
    return WhoAmIRead(name=actor.name, role=actor.role.value)


@router.get("/audit", tags=["audit"])
def audit_log(
    session: SessionDep,
    _: Reader,
    entity: TextQuery = None,
    entity_type: TextQuery = None,
    actor: TextQuery = None,
    action: TextQuery = None,
    before_id: IdQuery = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditRead]:
    rows = audit.query(
        session,
        entity_type=entity_type,
        entity_id=entity,
        actor=actor,
        action=action,
        after_id=before_id,
        limit=limit,
    )
    return [audit_read(e) for e in rows]


@router.get("/audit/verify", tags=["audit"])
def audit_verify(session: SessionDep, _: Reader) -> AuditVerifyRead:
    """Recompute the audit log's hash chain: any reader may check that no past row was edited."""
    verdict = audit.verify(session)
    return AuditVerifyRead(
        ok=verdict.ok,
        rows=verdict.rows,
        broken_id=verdict.broken_id,
        reason=verdict.reason,
        summary=verdict.describe(),
    )
