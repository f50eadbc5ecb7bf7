"""The slice support rule, in its one place: small slices are marked and withheld, then not judged."""

from __future__ import annotations

from gatekeeper.policy.decide import slice_checks, slice_support, unsupported
from gatekeeper.policy.schema import parse_policy
from tests.conftest import POLICY_FILE

POLICY = parse_policy(POLICY_FILE.read_text())
MIN = POLICY.slices.min_support


def measured(n: int) -> dict:
    return {
        "slice": f"lang=n{n}",
        "dimensions": {"lang": f"n{n}"},
        "n": n,
        "candidate": 0.5,
        "champion": 0.9,
        "delta": -0.4,
        "ci_low": -0.5,
        "ci_high": -0.3,
        "p_value": 0.001,
    }


def test_the_boundary_is_min_support() -> None:
    assert unsupported(MIN - 1, POLICY) and not unsupported(MIN, POLICY)


def test_small_slices_are_marked_and_their_intervals_withheld() -> None:
    table = {"metric": "accuracy", "rows": [measured(MIN - 1), measured(MIN)]}
    marked = slice_support(table, POLICY)
    small, big = marked["rows"]
    assert marked["min_support"] == MIN and marked["metric"] == "accuracy"
    assert small["insufficient_data"] and (small["ci_low"], small["ci_high"], small["p_value"]) == (None,) * 3
    assert small["delta"] == -0.4  # the figure stays; only its judgement is withheld
    assert not big["insufficient_data"] and big["p_value"] == 0.001
    assert "insufficient_data" not in table["rows"][0]  # the measured table is left as it was


def test_decide_judges_support_from_n_and_the_policy() -> None:
    checks = slice_checks({"metric": "accuracy", "rows": [measured(MIN - 1), measured(MIN)]}, POLICY)
    small, big = checks
    assert small.severity == "info" and f"insufficient data (n={MIN - 1} < {MIN})" in small.message
    assert big.severity == "soft" and not big.passed
