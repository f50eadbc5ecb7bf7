"""The candidate status machine (DESIGN section 3) as data, so it can be tested exhaustively and
read at a glance."""

from __future__ import annotations

from enum import StrEnum

from gatekeeper.errors import InvalidTransition


class Status(StrEnum):
    REGISTERED = "registered"
    EVALUATING = "evaluating"
    GATE_PASSED = "gate_passed"
    GATE_FAILED = "gate_failed"
    GATE_INCONCLUSIVE = "gate_inconclusive"
    SHADOW = "shadow"
    CANARY = "canary"
    ABORTED = "aborted"
    CHAMPION = "champion"
    RETIRED = "retired"
    FAILED_PROMOTION = "failed_promotion"


S = Status
TRANSITIONS: dict[Status, frozenset[Status]] = {
    # An evaluation that errors (not a failed gate) returns the candidate to `registered`.
    S.REGISTERED: frozenset({S.EVALUATING}),
    S.EVALUATING: frozenset({S.GATE_PASSED, S.GATE_FAILED, S.GATE_INCONCLUSIVE, S.REGISTERED}),
    # A passed candidate may be re-evaluated (e.g. the champion changed), shadowed, or, for a
    # target's very first model only, promoted straight to champion by an admin.
    S.GATE_PASSED: frozenset({S.EVALUATING, S.SHADOW, S.CHAMPION}),
    S.GATE_FAILED: frozenset(),
    # The evidence could not decide (policy on_inconclusive: block): held, never promoted, until a
    # re-gate on more data (a bigger evalset, a new policy) decides it.
    S.GATE_INCONCLUSIVE: frozenset({S.EVALUATING}),
    S.SHADOW: frozenset({S.CANARY, S.FAILED_PROMOTION}),
    S.CANARY: frozenset({S.CHAMPION, S.ABORTED, S.FAILED_PROMOTION}),
    S.ABORTED: frozenset({S.CANARY, S.FAILED_PROMOTION}),
    S.CHAMPION: frozenset({S.RETIRED, S.FAILED_PROMOTION}),
    S.RETIRED: frozenset({S.CHAMPION}),
    S.FAILED_PROMOTION: frozenset(),
}

# "latest" is the newest candidate still in the running for production.
EXCLUDED_FROM_LATEST = frozenset({S.GATE_FAILED, S.FAILED_PROMOTION})
# Statuses whose entry or exit changes what the serving layer routes to.
ROUTED = frozenset({S.SHADOW, S.CANARY, S.CHAMPION})


def check_transition(current: str, new: str) -> None:
    """Raise ``InvalidTransition`` (naming the current state) unless ``current -> new`` is allowed."""
    try:
        src, dst = Status(current), Status(new)
    except ValueError:
        raise InvalidTransition(f"unknown status {new!r}", current_status=current) from None
    if dst not in TRANSITIONS[src]:
        allowed = sorted(s.value for s in TRANSITIONS[src])
        raise InvalidTransition(
            f"cannot move a candidate from {src.value} to {dst.value}"
            + (
                f"; from {src.value} it may go to {', '.join(allowed)}"
                if allowed
                else f"; {src.value} is final"
            ),
            current_status=src.value,
            requested_status=dst.value,
        )


def changes_routing(current: str, new: str) -> bool:
    return Status(current) in ROUTED or Status(new) in ROUTED
