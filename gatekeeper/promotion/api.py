"""Shadow routes: what the serving layer posts during a shadow."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from gatekeeper.api.deps import (
    CI,
    ClockDep,
    DatabaseDep,
    Reader,
    Serving,
    SessionDep,
    SettingsDep,
    TransactionalRoute,
)
from gatekeeper.promotion import shadow
from gatekeeper.promotion.schemas import ShadowBatch, ShadowSummaryRead
from gatekeeper.registry import service as registry
from gatekeeper.registry.schemas import CandidateRead, candidate_read

router = APIRouter(prefix="/v1", route_class=TransactionalRoute, tags=["shadow and canary"])


@router.post("/candidates/{candidate_id}/shadow")
def start_shadow(candidate_id: str, session: SessionDep, clock: ClockDep, actor: CI) -> CandidateRead:
    """Put a gate-passed candidate in shadow: the serving layer mirrors traffic to it (weight 0). Shadow
    time runs from now, on the server clock."""
    return candidate_read(shadow.start(session, candidate_id=candidate_id, actor=actor.name, now=clock.now()))


@router.post("/candidates/{candidate_id}/shadow/records")
def post_shadow_records(
    candidate_id: str,
    body: ShadowBatch,
    db: DatabaseDep,
    clock: ClockDep,
    settings: SettingsDep,
    actor: Serving,
) -> dict[str, Any]:
    """Append records dated inside the shadow; an identical repeat is taken once, a rewrite refused (409),
    and once the shadow has ended every record is refused (409 naming the verdict)."""
    now = clock.now()
    shadow.conclude_one_due(db, candidate_id=candidate_id, now=now, settings=settings)
    with db.transaction() as session:
        return shadow.record(
            session,
            candidate_id=candidate_id,
            records=body.records,
            actor=actor.name,
            now=now,
            settings=settings,
        )


@router.get("/candidates/{candidate_id}/shadow")
def shadow_summary(candidate_id: str, session: SessionDep, clock: ClockDep, _: Reader) -> ShadowSummaryRead:
    summary = shadow.summary_of(session, registry.get_candidate(session, candidate_id), now=clock.now())
    return ShadowSummaryRead.model_validate(summary)
