import itertools

import pytest

from gatekeeper.errors import InvalidTransition
from gatekeeper.registry.states import TRANSITIONS, Status, changes_routing, check_transition

ALLOWED = {
    ("registered", "evaluating"),
    ("evaluating", "gate_passed"),
    ("evaluating", "gate_failed"),
    ("evaluating", "registered"),
    ("evaluating", "gate_inconclusive"),
    ("gate_inconclusive", "evaluating"),
    ("gate_passed", "evaluating"),
    ("gate_passed", "shadow"),
    ("gate_passed", "champion"),
    ("shadow", "canary"),
    ("shadow", "failed_promotion"),
    ("canary", "champion"),
    ("canary", "aborted"),
    ("canary", "failed_promotion"),
    ("aborted", "canary"),
    ("aborted", "failed_promotion"),
    ("champion", "retired"),
    ("champion", "failed_promotion"),
    ("retired", "champion"),
}


@pytest.mark.parametrize(("src", "dst"), list(itertools.product([s.value for s in Status], repeat=2)))
def test_every_pair_of_states(src: str, dst: str) -> None:
    if (src, dst) in ALLOWED:
        check_transition(src, dst)
    else:
        with pytest.raises(InvalidTransition) as info:
            check_transition(src, dst)
        assert info.value.fields["current_status"] == src
        assert src in info.value.detail


def test_table_and_expectation_agree() -> None:
    table = {(s.value, d.value) for s, targets in TRANSITIONS.items() for d in targets}
    assert table == ALLOWED


def test_terminal_states_say_so() -> None:
    with pytest.raises(InvalidTransition, match="gate_failed is final"):
        check_transition("gate_failed", "evaluating")


def test_registered_to_champion_names_the_way_forward() -> None:
    with pytest.raises(InvalidTransition, match="from registered it may go to evaluating"):
        check_transition("registered", "champion")


def test_routing_changes_only_around_served_states() -> None:
    assert changes_routing("gate_passed", "shadow")
    assert changes_routing("canary", "aborted")
    assert not changes_routing("registered", "evaluating")
