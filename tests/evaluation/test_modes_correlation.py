"""Mode 5, offline-online correlation, on three promotions."""

from __future__ import annotations

import pytest

from gatekeeper.evaluation.modes.correlation import correlation_mode


def pairs(online: list[float]) -> list[dict]:
    return [
        {"candidate_id": str(i), "version": f"v{i}", "offline": float(i), "online": y}
        for i, y in enumerate(online, start=1)
    ]


def test_a_perfect_leading_indicator() -> None:
    out = correlation_mode(pairs([0.2, 0.4, 0.6]), online_metric="resolution_rate")
    assert out["online_metric"] == "resolution_rate" and out["n"] == 3
    assert out["pearson"] == pytest.approx(1.0) and out["spearman"] == pytest.approx(1.0)
    assert [p["version"] for p in out["pairs"]] == ["v1", "v2", "v3"]


def test_too_few_promotions_is_unknown_not_zero() -> None:
    out = correlation_mode(pairs([0.2, 0.4]), online_metric="resolution_rate")
    assert out["pearson"] is None and out["reason"] == "fewer than 3 pairs (n=2)"
