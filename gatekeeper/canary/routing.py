"""The routing table the serving layer polls. It is derived from candidate and canary state in the
same database, so routing can never disagree with the registry, even after a crash mid-promotion."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Row, and_, select
from sqlalchemy.orm import Session, aliased

from gatekeeper.canary.bake import BAKING
from gatekeeper.canary.models import Canary
from gatekeeper.registry import service as registry
from gatekeeper.registry.models import Candidate, Target
from gatekeeper.registry.schemas import Route, RoutingRead
from gatekeeper.registry.states import Status

_ROUTED = (Status.CHAMPION.value, Status.CANARY.value, Status.SHADOW.value)
_Previous = aliased(Candidate)


def routing(session: Session, target_name: str) -> RoutingRead:
    """Champion gets what canaries do not; shadows are listed with weight 0 (mirrored, not served), and
    while a new champion bakes, the champion it replaced too (role ``previous``: kept warm for a rollback).

    One query (the hottest read in the service): the target, its routed candidates, their running or
    baking canaries and a baking canary's previous champion, outer-joined so a target with nothing routed
    still answers.
    """
    rows = session.execute(
        select(
            Target.name,
            Target.routing_generation,
            Candidate.id,
            Candidate.version,
            Candidate.status,
            Canary.plan,
            Canary.stage,
            _Previous.id.label("previous_id"),
            _Previous.version.label("previous_version"),
        )
        .select_from(Target)
        .outerjoin(Candidate, and_(Candidate.target_id == Target.id, Candidate.status.in_(_ROUTED)))
        .outerjoin(Canary, and_(Canary.candidate_id == Candidate.id, Canary.state.in_(("running", BAKING))))
        .outerjoin(_Previous, and_(_Previous.id == Canary.champion_id, Canary.state == BAKING))
        .where(Target.name == target_name)
        .order_by(Candidate.version)
    ).all()
    if not rows:
        registry.get_target(session, target_name)  # raises the usual 404 naming the target
    return RoutingRead(target=rows[0].name, generation=rows[0].routing_generation, routes=_routes(rows))


def _routes(rows: Sequence[Row]) -> list[Route]:
    """Canaries at their stage's share and shadows at 0; the champion first with the rest, then the
    champion it replaced while it bakes."""
    routes: list[Route] = []
    champion = None
    canary_total = 0.0
    for row in rows:
        if row.id is None:
            continue
        if row.status == Status.CHAMPION.value:
            champion = row
        elif row.status == Status.CANARY.value and row.plan is not None:
            share = float(row.plan[row.stage]["share"])
            canary_total += share
            routes.append(Route(candidate_id=row.id, version=row.version, role="canary", weight=share))
        elif row.status == Status.SHADOW.value:
            routes.append(Route(candidate_id=row.id, version=row.version, role="shadow", weight=0.0))
    if champion is None:
        return routes
    weight = round(1.0 - canary_total, 10)
    routes.insert(
        0, Route(candidate_id=champion.id, version=champion.version, role="champion", weight=weight)
    )
    if champion.previous_id is not None:
        previous = Route(
            candidate_id=champion.previous_id, version=champion.previous_version, role="previous", weight=0.0
        )
        routes.insert(1, previous)
    return routes
