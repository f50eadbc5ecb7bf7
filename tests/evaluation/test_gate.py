"""The gate's orchestration: one task's columns through every mode, in one results document."""

from __future__ import annotations

import pytest

from gatekeeper.evaluation.gate import SCHEMA_VERSION, gate_results
from gatekeeper.policy.schema import parse_policy
from tests.conftest import POLICY_FILE
from tests.evaluation.fakes import HandEvalSet, HandTask, Model

POLICY = parse_policy(POLICY_FILE.read_text())
HOLDOUT = [{"id": f"h{i}", "lang": "en" if i < POLICY.slices.min_support else "ja"} for i in range(40)]
ADVERSARIAL = [{"id": "a1", "source_id": "h0", "perturbation": "typo"}]
EVERY = [r["id"] for r in HOLDOUT + ADVERSARIAL]


def model(score: float) -> Model:
    return Model(score={i: score for i in EVERY}, answer={i: "same" for i in EVERY})


def run(task: HandTask, rows: dict) -> dict:
    pairs = [{"offline": 0.1 * i, "online": 0.2 * i} for i in range(1, 4)]
    return gate_results(
        task,
        HandEvalSet(rows),
        POLICY,
        latency_ms=None,
        correlation_pairs=pairs,
        n_resamples=50,
        seed=10,
    )


def test_every_mode_lands_in_one_document() -> None:
    task = HandTask(model(1.0), model(0.0))
    rows = {"golden": [{"id": "g1"}], "holdout": HOLDOUT, "adversarial": ADVERSARIAL}
    rows["replay"] = [{"id": "r1"}]
    results = run(task, rows)
    assert list(results) == [
        "schema_version",
        "task",
        "first_model",
        "golden",
        "correlation",
        "slices",
        "adversarial",
        "replay",
    ]
    assert results["schema_version"] == SCHEMA_VERSION and results["task"] == "hand"
    assert results["first_model"] is False
    assert results["golden"] == {"n": 1} and results["replay"] == {"n_sessions": 1}
    assert results["correlation"]["pearson"] == pytest.approx(1.0)
    assert results["adversarial"]["overall"]["delta_error"] == -1.0  # 1 - score: 0 against 1
    # each mode gets its own seed, as stored results have always been computed
    assert task.calls == [("golden", 10), ("replay", 13)]


def test_slices_are_measured_then_marked_by_the_policy() -> None:
    results = run(HandTask(model(1.0), model(0.5)), {"golden": [], "holdout": HOLDOUT})
    slices = results["slices"]
    assert slices["min_support"] == POLICY.slices.min_support
    rows = {r["slice"]: r for r in slices["rows"]}
    en, ja = rows["lang=en"], rows["lang=ja"]
    assert en["n"] == POLICY.slices.min_support and not en["insufficient_data"]
    assert en["delta"] == 0.5 and en["ci_low"] == en["ci_high"] == 0.5
    assert ja["n"] == 40 - POLICY.slices.min_support and ja["insufficient_data"]
    assert ja["delta"] == 0.5 and ja["ci_low"] is None and ja["p_value"] is None  # reported, not judged


def test_a_first_model_with_no_holdout_adversarial_or_replay() -> None:
    task = HandTask(model(1.0), None)
    results = run(task, {"golden": [{"id": "g1"}]})
    assert results["first_model"] is True
    assert "slices" not in results and "replay" not in results and results["adversarial"] is None
    assert task.calls == [("golden", 10)]
