"""Mode 3, adversarial, on columns small enough to check by hand."""

from __future__ import annotations

import numpy as np
import pytest

from gatekeeper.evaluation.modes.adversarial import adversarial_mode, adversarial_table, flip_column
from tests.evaluation.fakes import HandTask, Model

ROWS = [
    {"id": "a1", "source_id": "s1", "perturbation": "typo"},
    {"id": "a2", "source_id": "s2", "perturbation": "typo"},
    {"id": "a3", "source_id": "s3", "perturbation": "case"},
]


def test_flip_is_a_changed_answer() -> None:
    assert flip_column(["x", "y", 1.0], ["x", "z", 0.0]).tolist() == [0.0, 1.0, 1.0]


def test_table_overall_and_per_type_by_hand() -> None:
    table = adversarial_table(
        ROWS,
        np.array([1.0, 0.0, 0.0]),  # candidate errs on a1 only
        np.array([0.0, 0.0, 0.0]),
        np.array([1.0, 0.0, 0.0]),  # ... and a1 is a flip
        np.array([0.0, 0.0, 0.0]),
        describe=[{"id": r["id"]} for r in ROWS],
        n_resamples=50,
        seed=0,
    )
    overall = table["overall"]
    assert overall["n"] == 3
    assert overall["candidate_error"] == pytest.approx(1 / 3)
    assert overall["champion_error"] == 0.0 and overall["delta_error"] == pytest.approx(1 / 3)
    assert overall["candidate_flip_rate"] == pytest.approx(1 / 3) and overall["champion_flip_rate"] == 0.0
    by_type = {t["perturbation"]: t for t in table["by_type"]}
    assert [t["perturbation"] for t in table["by_type"]] == ["case", "typo"]  # sorted
    assert by_type["typo"]["n"] == 2 and by_type["typo"]["candidate_error"] == 0.5
    assert by_type["case"]["n"] == 1 and by_type["case"]["candidate_error"] == 0.0
    assert table["flips"] == [{"id": "a1"}]


def test_table_without_champion_has_no_comparison() -> None:
    table = adversarial_table(
        ROWS[:1], np.array([0.0]), None, np.array([0.0]), None, describe=[{}], n_resamples=10, seed=0
    )
    assert table["overall"] == {"n": 1, "candidate_error": 0.0, "candidate_flip_rate": 0.0}
    assert table["flips"] == []


def test_mode_turns_task_columns_into_error_and_flips() -> None:
    candidate = Model(
        score={"a1": 0.0, "a2": 1.0, "a3": 1.0},
        answer={"a1": "refund", "s1": "return", "a2": "faq", "s2": "faq", "a3": "x", "s3": "x"},
    )
    champion = Model(
        score={"a1": 1.0, "a2": 1.0, "a3": 1.0},
        answer={"a1": "return", "s1": "return", "a2": "faq", "s2": "faq", "a3": "x", "s3": "y"},
    )
    table = adversarial_mode(HandTask(candidate, champion), ROWS, n_resamples=50, seed=3)
    assert table is not None
    overall = table["overall"]
    assert overall["candidate_error"] == pytest.approx(1 / 3)  # 1 - score
    assert overall["candidate_flip_rate"] == pytest.approx(1 / 3)  # a1 changed its answer
    assert overall["champion_flip_rate"] == pytest.approx(1 / 3)  # a3 changed the champion's
    assert table["flips"] == [{"id": "a1"}]


def test_mode_keeps_only_rows_whose_source_the_candidate_answered() -> None:
    candidate = Model(score={"a1": 1.0}, answer={"a1": "x", "s1": "x"})
    table = adversarial_mode(HandTask(candidate, None), ROWS, n_resamples=10, seed=0)
    assert table is not None and table["overall"]["n"] == 1 and "delta_error" not in table["overall"]
    nothing = Model(score={}, answer={})
    assert adversarial_mode(HandTask(nothing, None), ROWS, n_resamples=10, seed=0) is None
