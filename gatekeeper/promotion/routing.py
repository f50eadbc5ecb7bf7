"""The routing table the serving layer polls. It is derived from candidate and canary state in the
same database, so routing can never disagree with the registry, even after a crash mid-promotion."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from gatekeeper.promotion import canary
from gatekeeper.registry import service as registry
from gatekeeper.registry.models import Candidate
from gatekeeper.registry.schemas import Route, RoutingRead
from gatekeeper.registry.states import Status


def canary_shares(session: Session, target_id: int) -> dict[str, float]:
    """Traffic share of each candidate in a running canary."""
    return canary.running_shares(session, target_id)


def routing(session: Session, target_name: str) -> RoutingRead:
    """Champion gets what canaries do not; shadows are listed with weight 0 (mirrored, not served)."""
    target = registry.get_target(session, target_name)
    rows = list(
        session.scalars(
            select(Candidate)
            .where(
                Candidate.target_id == target.id,
                Candidate.status.in_([Status.CHAMPION.value, Status.CANARY.value, Status.SHADOW.value]),
            )
            .order_by(Candidate.version)
        )
    )
    shares = canary_shares(session, target.id)
    routes: list[Route] = []
    champion = next((c for c in rows if c.status == Status.CHAMPION.value), None)
    canary_total = 0.0
    for cand in rows:
        if cand.status == Status.CANARY.value and str(cand.id) in shares:
            canary_total += shares[str(cand.id)]
            routes.append(
                Route(candidate_id=cand.id, version=cand.version, role="canary", weight=shares[str(cand.id)])
            )
        elif cand.status == Status.SHADOW.value:
            routes.append(Route(candidate_id=cand.id, version=cand.version, role="shadow", weight=0.0))
    if champion is not None:
        routes.insert(
            0,
            Route(
                candidate_id=champion.id,
                version=champion.version,
                role="champion",
                weight=round(1.0 - canary_total, 10),
            ),
        )
    return RoutingRead(target=target.name, generation=target.routing_generation, routes=routes)
