"""Mode 1, golden, for classification on four examples."""

from __future__ import annotations

import pytest

from gatekeeper.evaluation.modes.golden import classification_golden
from gatekeeper.evaluation.predictions import Predictions

LABELS = ["escalation", "faq"]
ROWS = [
    {"id": "g1", "label": "faq"},
    {"id": "g2", "label": "faq"},
    {"id": "g3", "label": "escalation"},
    {"id": "g4", "label": "escalation"},
]
CANDIDATE = Predictions(["g1", "g2", "g3", "g4"], ["faq", "faq", "escalation", "escalation"])
CHAMPION = Predictions(["g1", "g2", "g3", "g4"], ["faq", "faq", "faq", "faq"])


def golden(champion: Predictions | None, latency: list[float] | None = None) -> dict:
    return classification_golden(
        ROWS,
        CANDIDATE,
        champion,
        labels=LABELS,
        critical=["escalation"],
        latency_ms=latency,
        n_resamples=100,
        seed=0,
    )


def test_paired_with_the_champion_by_hand() -> None:
    out = golden(CHAMPION, [1.0, 2.0, 3.0])
    assert out["n"] == 4 and out["candidate"]["accuracy"] == 1.0 and out["champion"]["accuracy"] == 0.5
    accuracy = out["comparisons"]["accuracy"]
    assert accuracy["delta"] == 0.5 and accuracy["n"] == 4
    recall = out["comparisons"]["recall:escalation"]  # the champion never says escalation
    assert (recall["candidate"], recall["champion"], recall["delta"]) == (1.0, 0.0, 1.0)
    assert out["champion"]["macro_f1"] == pytest.approx((2 / 3 + 0) / 2)
    assert out["latency"]["p50_ms"] == 2.0
    assert "intervals" not in out


def test_first_model_gets_intervals_not_comparisons() -> None:
    out = golden(None)
    assert out["champion"] is None and out["latency"] is None and "comparisons" not in out
    accuracy = out["intervals"]["accuracy"]
    assert accuracy["value"] == 1.0 and accuracy["ci_low"] == accuracy["ci_high"] == 1.0
    assert "reliability" not in out["candidate"]  # no confidences, no reliability curve
