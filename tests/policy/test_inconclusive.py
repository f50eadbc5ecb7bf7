"""The third verdict (issue 15): a non-inferiority comparison whose CI straddles its bound is
inconclusive, carries the sample size that would decide it, and the policy says what it does."""

from __future__ import annotations

import math

import pytest

from gatekeeper.evaluation.verdicts import combine, exit_code, need_text
from gatekeeper.policy.decide import decide, non_inferiority, slice_checks, slice_support
from tests.policy.test_decide import POLICY, cmp, slice_row
from tests.policy.test_decide import healthy as _healthy

MIN = POLICY.slices.min_support


def healthy() -> dict:
    """The shared healthy results, with a replay cost CI narrow enough to clear its +5% bound."""
    results = _healthy()
    results["replay"]["cost"] = cmp(0.0100, 0.0100, half_width=0.0001)
    return results


def test_one_rule_three_outcomes() -> None:
    assert non_inferiority(False, -0.02, (-0.05, 0.01), lower_is_better=False) == "fail"
    assert non_inferiority(True, -0.02, (-0.01, 0.03), lower_is_better=False) == "pass"
    assert non_inferiority(True, -0.02, (-0.03, 0.03), lower_is_better=False) == "inconclusive"
    assert non_inferiority(True, 0.05, (-0.01, 0.03), lower_is_better=True) == "pass"
    assert non_inferiority(True, 0.05, (0.02, 0.06), lower_is_better=True) == "inconclusive"
    assert non_inferiority(True, 0.05, None, lower_is_better=True) == "pass"  # no CI: point estimate


def test_a_straddling_golden_tolerance_is_inconclusive_with_its_need_n() -> None:
    results = healthy()
    # tolerance 0: delta +0.005, CI [-0.005, +0.015] on 2,000 examples; the lower side (0.01) must shrink
    # under the 0.005 margin: N = 2000 x (0.01 / 0.005)^2 = 8,000, so 6,000 more.
    results["golden"]["comparisons"]["accuracy"] = cmp(0.905, 0.90)
    decision = decide(results, POLICY)
    assert decision.verdict == "inconclusive" and not decision.promotable and not decision.hard_failures
    (reason,) = decision.inconclusive
    assert (reason.check, reason.metric, reason.severity, reason.outcome) == (
        "golden.vs_champion",
        "accuracy",
        "hard",
        "inconclusive",
    )
    assert reason.need_n == 6000
    assert (
        decision.to_dict()["need"][0]["text"]
        == "golden.vs_champion accuracy: need ≈ 6,000 more golden examples"
    )
    assert "need ≈ 6,000 more golden examples" in reason.message
    assert decision.summary.startswith(
        "INCONCLUSIVE: 0 hard failure(s), 0 soft flag(s), 1 inconclusive check(s)"
    )
    assert "promotion blocked" in decision.summary


def test_the_policy_may_let_an_inconclusive_candidate_through() -> None:
    results = healthy()
    results["golden"]["comparisons"]["accuracy"] = cmp(0.905, 0.90)
    decision = decide(results, POLICY.model_copy(update={"on_inconclusive": "pass"}))
    assert decision.verdict == "inconclusive" and decision.promotable
    assert "let through by on_inconclusive: pass" in decision.summary


def test_a_failure_outranks_an_inconclusive_check() -> None:
    results = healthy()
    results["golden"]["comparisons"]["accuracy"] = cmp(0.905, 0.90)
    results["golden"]["comparisons"]["macro_f1"] = cmp(0.86, 0.87, half_width=0.001)
    decision = decide(results, POLICY)
    assert decision.verdict == "fail" and len(decision.inconclusive) == 1


def test_a_critical_slice_whose_ci_reaches_past_the_limit_is_inconclusive() -> None:
    results = healthy()
    results["slices"]["rows"][1] = slice_row(
        "lang=ja", {"lang": "ja"}, 0.89, 0.895, 0.7
    )  # CI [-0.025, 0.015]
    decision = decide(results, POLICY)
    assert decision.verdict == "inconclusive"
    (reason,) = decision.inconclusive
    # margin 0.015 to -0.02, lower half-width 0.02: N = ceil(400 x (0.02 / 0.015)^2) = 712, 312 more
    assert reason.slice == "lang=ja" and reason.need_n == 312
    assert "slice lang=ja: need ≈ 310 more examples" == decision.to_dict()["need"][0]["text"]


def test_an_inconclusive_soft_check_is_listed_but_does_not_hold_the_candidate() -> None:
    results = healthy()
    results["replay"]["quality"] = cmp(0.90, 0.90, half_width=0.02)  # drop allowed 0.01, CI [-0.02, 0.02]
    decision = decide(results, POLICY)
    assert decision.verdict == "pass" and decision.promotable
    assert [(r.check, r.metric, r.severity) for r in decision.inconclusive] == [
        ("replay", "routing_accuracy", "soft")
    ]
    assert decision.inconclusive[0].need_n == 3 * 2000  # N = 2000 x (0.02 / 0.01)^2
    assert not decision.extended_canary  # only a replay *failure* that is significant extends it


def test_small_slices_report_the_need_n_of_the_rule_and_of_the_comparison() -> None:
    wide = slice_row("lang=n12", {"lang": "n12"}, 0.80, 0.81, 0.9, n=12)
    wide["ci_low"], wide["ci_high"] = -0.21, 0.19
    tiny = slice_row("lang=n3", {"lang": "n3"}, 1.0, 1.0, 1.0, n=3)
    tiny["ci_low"] = tiny["ci_high"] = 0.0
    no_champion = slice_row("lang=n5", {"lang": "n5"}, 0.8, None, None, n=5)
    marked = slice_support({"metric": "accuracy", "rows": [wide, tiny, no_champion]}, POLICY)
    # delta -0.01 vs bound -0.02: margin 0.01, lower half-width 0.2: N = ceil(12 x 400) = 4,800
    assert [r["need_n"] for r in marked["rows"]] == [4800 - 12, MIN - 3, MIN - 5]
    assert marked["rows"][0]["ci_low"] is None  # still withheld
    checks = slice_checks(marked, POLICY)
    assert all(c.severity == "info" and c.outcome == "inconclusive" for c in checks)
    assert checks[0].need_n == 4788 and "need ≈ 4,800 more examples" in checks[0].message


def test_verdict_exit_codes_and_combination() -> None:
    assert [exit_code(v) for v in ("pass", "fail", "inconclusive", None, "odd")] == [0, 1, 3, 2, 2]
    assert combine([]) == "pass"
    assert combine(["pass", "inconclusive"]) == "inconclusive"
    assert combine(["inconclusive", "fail", "pass"]) == "fail"


@pytest.mark.parametrize(
    ("more", "text"),
    [
        (3117, "need ≈ 3,100 more examples"),
        (240, "need ≈ 240 more examples"),
        (57, "need ≈ 57 more examples"),
        (0, "decided at the current sample size"),
        (None, "no sample size decides it at the observed difference"),
    ],
)
def test_need_text(more: int | None, text: str) -> None:
    assert need_text(more) == text
    assert math.isfinite(len(text))
