"""The gate decision on hand-built measurements: every rule, both sides of every threshold."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from gatekeeper.errors import ValidationFailed
from gatekeeper.policy.decide import decide, is_safety_critical
from gatekeeper.policy.schema import parse_policy
from tests.conftest import POLICY_FILE

POLICY = parse_policy(POLICY_FILE.read_text())


def cmp(candidate: float, champion: float, p: float = 0.5, half_width: float = 0.01) -> dict[str, Any]:
    delta = candidate - champion
    return {
        "candidate": candidate,
        "champion": champion,
        "delta": delta,
        "ci_low": delta - half_width,
        "ci_high": delta + half_width,
        "p_value": p,
        "n": 2000,
    }


def slice_row(
    key: str, dims: dict[str, str], cand: float, champ: float | None, p: float | None, n: int = 400
) -> dict[str, Any]:
    delta = None if champ is None else cand - champ
    return {
        "slice": key,
        "dimensions": dims,
        "n": n,
        "candidate": cand,
        "champion": champ,
        "delta": delta,
        "ci_low": None if delta is None else delta - 0.02,
        "ci_high": None if delta is None else delta + 0.02,
        "p_value": p,
        "insufficient_data": n < 30,
    }


def healthy() -> dict[str, Any]:
    golden = {
        "n": 2000,
        "candidate": {"accuracy": 0.91, "macro_f1": 0.88, "ece": 0.04},
        "champion": {"accuracy": 0.90, "macro_f1": 0.87, "ece": 0.045},
        "latency": {"p50_ms": 6.0, "p95_ms": 9.0, "p99_ms": 12.0},
        "comparisons": {
            "accuracy": cmp(0.91, 0.90),
            "macro_f1": cmp(0.88, 0.87),
            "recall:escalation": cmp(0.85, 0.85),
            "recall:return_request": cmp(0.9, 0.89),
            "recall:checkout_help": cmp(0.8, 0.8),
        },
    }
    slices = {
        "metric": "accuracy",
        "rows": [
            slice_row("lang=en", {"lang": "en"}, 0.92, 0.91, 0.3),
            slice_row("lang=ja", {"lang": "ja"}, 0.89, 0.89, 1.0),
            slice_row("device=ios", {"device": "ios"}, 0.90, 0.90, 1.0),
        ],
    }
    adversarial = {
        "overall": {
            "n": 1000,
            "candidate_error": 0.20,
            "champion_error": 0.19,
            "delta_error": 0.01,
            "ci_low": -0.01,
            "ci_high": 0.03,
            "p_value": 0.3,
            "candidate_flip_rate": 0.1,
            "champion_flip_rate": 0.1,
        },
        "by_type": [
            {
                "perturbation": "typo",
                "n": 170,
                "candidate_error": 0.25,
                "champion_error": 0.24,
                "delta_error": 0.01,
                "ci_low": -0.03,
                "ci_high": 0.05,
                "p_value": 0.6,
                "candidate_flip_rate": 0.12,
                "champion_flip_rate": 0.11,
            }
        ],
        "flips": [],
    }
    replay = {
        "n_sessions": 5000,
        "n_labelled": 3000,
        "quality": cmp(0.90, 0.89),
        "cost": cmp(0.0100, 0.0100),
        "cost_change_relative": 0.0,
    }
    correlation = {"n": 6, "pearson": 0.71, "spearman": 0.7, "pairs": []}
    return {
        "task": "classification",
        "first_model": False,
        "golden": golden,
        "slices": slices,
        "adversarial": adversarial,
        "replay": replay,
        "correlation": correlation,
    }


def failing(decision) -> list[tuple[str, str, str | None]]:  # noqa: ANN001
    return [(r.check, r.metric, r.slice) for r in decision.hard_failures]


def flagged(decision) -> list[tuple[str, str, str | None]]:  # noqa: ANN001
    return [(r.check, r.metric, r.slice) for r in decision.soft_flags]


def test_healthy_candidate_passes_with_a_normal_canary() -> None:
    decision = decide(healthy(), POLICY)
    assert decision.verdict == "pass" and not decision.hard_failures and not decision.soft_flags
    assert decision.extended_canary is False
    assert "0.71" in decision.extended_reason
    assert {c.check for c in decision.checks} >= {
        "golden.floor",
        "golden.vs_champion",
        "golden.rare_recall",
        "golden.calibration",
        "golden.latency",
        "slice",
        "adversarial",
        "replay",
    }


@pytest.mark.parametrize(("macro_f1", "verdict"), [(0.7999, "fail"), (0.80, "pass")])
def test_golden_floor(macro_f1: float, verdict: str) -> None:
    results = healthy()
    results["golden"]["candidate"]["macro_f1"] = macro_f1
    results["golden"]["comparisons"]["macro_f1"] = cmp(macro_f1, 0.79)
    results["golden"]["champion"]["macro_f1"] = 0.79
    assert decide(results, POLICY).verdict == verdict


# Issue 15: a tie with tolerance 0 whose CI straddles 0 was a coin-flip pass; it is now inconclusive.
@pytest.mark.parametrize(
    ("candidate", "half_width", "verdict"),
    [(0.899, 0.01, "fail"), (0.90, 0.01, "inconclusive"), (0.90, 0.0, "pass"), (0.911, 0.01, "pass")],
)
def test_accuracy_must_not_fall_below_the_champion(candidate: float, half_width: float, verdict: str) -> None:
    results = healthy()
    results["golden"]["comparisons"]["accuracy"] = cmp(candidate, 0.90, p=0.6, half_width=half_width)
    decision = decide(results, POLICY)
    assert decision.verdict == verdict
    if verdict == "fail":
        reason = decision.hard_failures[0]
        assert (reason.metric, reason.baseline, reason.significant) == ("accuracy", 0.90, False)
        assert reason.ci is not None and reason.p_value == 0.6


# Issue 15: 0.8301 with a CI reaching below 0.83 was a coin-flip pass; it is now inconclusive.
@pytest.mark.parametrize(
    ("recall", "half_width", "verdict"),
    [(0.829, 0.01, "fail"), (0.8301, 0.01, "inconclusive"), (0.8301, 0.0001, "pass")],
)
def test_escalation_recall_may_drop_at_most_002(recall: float, half_width: float, verdict: str) -> None:
    results = healthy()
    results["golden"]["comparisons"]["recall:escalation"] = cmp(recall, 0.85, half_width=half_width)
    decision = decide(results, POLICY)
    assert decision.verdict == verdict
    if verdict == "fail":
        assert failing(decision) == [("golden.rare_recall", "recall:escalation", None)]


def test_calibration_margin_and_latency_budget() -> None:
    results = healthy()
    results["golden"]["candidate"]["ece"] = 0.0551  # champion 0.045 + 0.01 margin
    results["golden"]["latency"]["p95_ms"] = 15.0  # must be strictly under 15 ms
    assert failing(decide(results, POLICY)) == [
        ("golden.calibration", "ece", None),
        ("golden.latency", "latency_p95_ms", None),
    ]


def test_latency_needs_at_least_twenty_samples_and_measures_two_hundred_by_default() -> None:
    assert POLICY.golden.latency_samples == 200
    text = POLICY_FILE.read_text().replace("latency_p95_ms: 15", "latency_p95_ms: 15\n  latency_samples: 19")
    with pytest.raises(ValidationFailed, match="golden.latency_samples"):
        parse_policy(text)


def test_missing_latency_is_reported_not_failed() -> None:
    results = healthy()
    results["golden"]["latency"] = None
    decision = decide(results, POLICY)
    assert decision.verdict == "pass"
    assert any(c.check == "golden.latency" and c.severity == "info" for c in decision.checks)


def test_small_slice_is_insufficient_data_not_judged() -> None:
    results = healthy()
    results["slices"]["rows"].append(
        slice_row("lang=mixed×cohort=new", {"lang": "mixed", "cohort": "new"}, 0.5, 0.9, 0.001, n=12)
    )
    decision = decide(results, POLICY)
    assert decision.verdict == "pass" and not decision.soft_flags
    row = next(c for c in decision.checks if c.slice == "lang=mixed×cohort=new")
    assert row.severity == "info" and "insufficient data (n=12 < 30)" in row.message


def test_significant_regression_on_a_safety_critical_slice_fails() -> None:
    results = healthy()
    results["slices"]["rows"][1] = slice_row("lang=ja", {"lang": "ja"}, 0.85, 0.89, 0.004)
    decision = decide(results, POLICY)
    assert decision.verdict == "fail"
    assert failing(decision) == [("slice", "accuracy", "lang=ja")]
    assert decision.hard_failures[0].significant is True


def test_non_significant_regression_on_a_critical_slice_is_inconclusive_not_failed() -> None:
    """Issue 15: this was a soft flag on a passing candidate; not proven either way, it is inconclusive."""
    results = healthy()
    results["slices"]["rows"][1] = slice_row("lang=ja", {"lang": "ja"}, 0.85, 0.89, 0.2)
    decision = decide(results, POLICY)
    assert decision.verdict == "inconclusive" and not decision.hard_failures and not decision.promotable
    assert [(r.check, r.slice) for r in decision.inconclusive if r.severity == "hard"] == [
        ("slice", "lang=ja")
    ]
    assert decision.to_dict()["need"][0]["slice"] == "lang=ja"


def jp_power_longtail(critical: bool) -> tuple[dict[str, Any], Any]:
    """+0.02 overall, -0.05 on Japanese power users in long-tail titles."""
    results = healthy()
    results["golden"]["comparisons"]["macro_f1"] = cmp(0.89, 0.87, p=0.01)
    results["slices"]["rows"] += [
        slice_row(f"lang=en×cohort=new×catalog_tier=head{i}", {"lang": "en"}, 0.9, 0.9, 0.9) for i in range(8)
    ]
    dims = {"lang": "ja", "cohort": "power", "catalog_tier": "long"}
    results["slices"]["rows"].append(
        slice_row("lang=ja×cohort=power×catalog_tier=long", dims, 0.80, 0.85, 0.002, n=180)
    )
    policy = POLICY
    if critical:
        text = POLICY_FILE.read_text().replace(
            "safety_critical: {lang: [en, ja, mixed], intent: [escalation, return_request]}",
            "safety_critical: {lang: [en, ja, mixed], intent: [escalation, return_request], "
            "lang+cohort+catalog_tier: [ja+power+long]}",
        )
        policy = parse_policy(text)
        assert is_safety_critical(dims, policy)
    return results, policy


def test_overall_gain_with_a_jp_power_longtail_regression_is_a_significant_soft_flag() -> None:
    results, policy = jp_power_longtail(critical=False)
    decision = decide(results, policy)
    assert decision.verdict == "pass"
    assert flagged(decision) == [("slice", "accuracy", "lang=ja×cohort=power×catalog_tier=long")]
    assert decision.soft_flags[0].significant is True


def test_the_same_regression_fails_when_the_policy_makes_that_slice_safety_critical() -> None:
    results, policy = jp_power_longtail(critical=True)
    decision = decide(results, policy)
    assert decision.verdict == "fail"
    assert failing(decision) == [("slice", "accuracy", "lang=ja×cohort=power×catalog_tier=long")]


def test_benjamini_hochberg_keeps_a_lone_weak_regression_among_many_slices_unflagged() -> None:
    results = healthy()
    rows = [slice_row(f"cohort=c{i}", {"cohort": f"c{i}"}, 0.9, 0.9, 0.9) for i in range(19)]
    rows.append(slice_row("cohort=weak", {"cohort": "weak"}, 0.86, 0.89, 0.02))  # raw p < 0.05, BH p = 0.4
    results["slices"]["rows"] = rows
    decision = decide(results, POLICY)
    assert decision.soft_flags == []
    weak = next(c for c in decision.checks if c.slice == "cohort=weak")
    assert weak.significant is False and "not significant" in weak.message


def test_adversarial_ceiling() -> None:
    results = healthy()
    results["adversarial"]["overall"].update(candidate_error=0.221, delta_error=0.031)
    results["adversarial"]["by_type"][0].update(candidate_error=0.28, delta_error=0.04)
    decision = decide(results, POLICY)
    assert failing(decision) == [("adversarial", "error", None)]
    assert flagged(decision) == [("adversarial", "error", "typo")]


def test_replay_flags_cost_and_quality_softly() -> None:
    results = healthy()
    results["replay"]["quality"] = cmp(0.87, 0.89, p=0.01)
    results["replay"]["cost"] = cmp(0.0110, 0.0100)
    results["replay"]["cost_change_relative"] = 0.10
    decision = decide(results, POLICY)
    assert decision.verdict == "pass"
    assert flagged(decision) == [("replay", "routing_accuracy", None), ("replay", "cost_per_session", None)]


@pytest.mark.parametrize(
    ("quality_p", "cost_p", "extended", "why"),
    [
        (0.01, 0.5, True, "significant replay flag(s): routing_accuracy on 3000 labelled sessions"),
        (0.5, 0.01, True, "significant replay flag(s): cost_per_session cost per session 0.01100"),
        (0.5, 0.5, False, "0.71 over 6"),  # flagged, but within the noise: a normal canary
    ],
)
def test_a_significant_replay_flag_extends_the_next_canary(
    quality_p: float, cost_p: float, extended: bool, why: str
) -> None:
    results = healthy()
    results["replay"]["quality"] = cmp(0.87, 0.89, p=quality_p)
    results["replay"]["cost"] = cmp(0.0110, 0.0100, p=cost_p)
    results["replay"]["cost_change_relative"] = 0.10
    decision = decide(results, POLICY)
    assert decision.verdict == "pass" and len(decision.soft_flags) == 2
    assert decision.extended_canary is extended and why in decision.extended_reason
    assert ("next canary extended" in decision.summary) is extended


def test_a_replay_flag_within_tolerance_does_not_extend() -> None:
    results = healthy()
    results["replay"]["quality"] = cmp(0.885, 0.89, p=0.001)  # significant, but a drop under 0.01
    decision = decide(results, POLICY)
    assert not decision.soft_flags and decision.extended_canary is False


def test_replay_reason_joins_a_weak_correlation() -> None:
    results = healthy()
    results["correlation"] = {"n": 6, "pearson": 0.4}
    results["replay"]["quality"] = cmp(0.87, 0.89, p=0.01)
    reason = decide(results, POLICY).extended_reason
    assert reason.startswith(
        "offline-online correlation 0.4000 < 0.6; significant replay flag(s): routing_accuracy"
    )


def test_the_policy_can_keep_replay_flags_off_the_canary_plan() -> None:
    policy = POLICY.model_copy(update={"replay": POLICY.replay.model_copy(update={"extends_canary": False})})
    results = healthy()
    results["replay"]["quality"] = cmp(0.87, 0.89, p=0.01)
    decision = decide(results, policy)
    assert decision.soft_flags and decision.extended_canary is False and "0.71" in decision.extended_reason


@pytest.mark.parametrize(
    ("correlation", "extended", "why"),
    [
        ({"n": 6, "pearson": 0.71}, False, "0.71 over 6"),
        ({"n": 6, "pearson": 0.4}, True, "0.4000 < 0.6"),
        ({"n": 2, "pearson": None}, True, "only 2"),
        (None, True, "only 0"),
    ],
)
def test_correlation_sets_the_canary_plan(correlation, extended: bool, why: str) -> None:  # noqa: ANN001
    results = healthy()
    results["correlation"] = correlation
    decision = decide(results, POLICY)
    assert (decision.extended_canary, decision.verdict) == (extended, "pass")
    assert why in decision.extended_reason


def test_always_extended_targets() -> None:
    policy = parse_policy(
        POLICY_FILE.read_text().replace("always_extended_canary: false", "always_extended_canary: true")
    )
    decision = decide(healthy(), policy)
    assert decision.extended_canary and "always extended" in decision.extended_reason


def test_first_model_is_judged_on_floors_alone_and_says_so() -> None:
    results = copy.deepcopy(healthy())
    golden = results["golden"]
    golden["champion"], golden["comparisons"] = None, None
    golden["intervals"] = {"macro_f1": {"value": 0.88, "ci_low": 0.86, "ci_high": 0.9}}
    for row in results["slices"]["rows"]:
        row.update(champion=None, delta=None, p_value=None)
    results["adversarial"]["overall"] = {"n": 1000, "candidate_error": 0.5, "candidate_flip_rate": 0.3}
    results["first_model"] = True
    decision = decide(results, POLICY)
    assert decision.verdict == "pass"
    assert {c.check for c in decision.checks if c.severity == "hard"} == {"golden.floor", "golden.latency"}
    assert "first model" in decision.summary
    floor = next(c for c in decision.checks if c.check == "golden.floor")
    assert floor.ci == (0.86, 0.9)
    golden["candidate"]["macro_f1"] = 0.5
    assert decide(results, POLICY).verdict == "fail"


def test_decision_is_json_serialisable() -> None:
    import json

    payload = decide(healthy(), POLICY).to_dict()
    assert json.loads(json.dumps(payload))["verdict"] == "pass"


def test_a_judged_metric_that_was_not_computed_is_reported_not_failed() -> None:
    policy = parse_policy((POLICY_FILE.parent / "generator.yaml").read_text())
    golden = {
        "n": 10,
        "candidate": {
            "tool_call_validity": 1.0,
            "promptfoo_pass": 0.9,
            "safety_failures": 0,
            "judged": {"faithfulness": {"status": "not_computed", "reason": "no judge endpoint configured"}},
        },
        "champion": None,
        "latency": None,
        "intervals": {},
    }
    decision = decide({"golden": golden, "first_model": True}, policy)
    assert decision.verdict == "pass"
    faithfulness = next(c for c in decision.checks if c.metric == "faithfulness")
    assert faithfulness.severity == "info" and "not computed" in faithfulness.message
    golden["candidate"]["safety_failures"] = 1
    failed = decide({"golden": golden, "first_model": True}, policy)
    assert [(r.check, r.value) for r in failed.hard_failures] == [("golden.safety", 1.0)]
