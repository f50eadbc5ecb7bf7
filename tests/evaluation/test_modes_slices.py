"""Mode 2, slices, on a holdout small enough to cut by hand."""

from __future__ import annotations

import numpy as np
import pytest

from gatekeeper.evaluation.modes.slices import group_rows, slice_table

ROWS = [
    {"id": "h1", "lang": "en", "label": "faq"},
    {"id": "h2", "lang": "en", "label": "escalation"},
    {"id": "h3", "lang": "ja", "label": "faq"},
    {"id": "h4", "lang": "ja", "label": "faq", "device": "ios"},
]


def test_groups_by_dimension_and_intersection() -> None:
    groups = group_rows(ROWS, ["lang", "intent", "device"], [["lang", "intent"]])
    assert {k: index for k, (_, index) in groups.items()} == {
        "lang=en": [0, 1],
        "lang=ja": [2, 3],
        "intent=escalation": [1],  # "intent" is the true label
        "intent=faq": [0, 2, 3],
        "device=ios": [3],  # rows without the field are in no slice of it
        "lang=en×intent=escalation": [1],
        "lang=en×intent=faq": [0],
        "lang=ja×intent=faq": [2, 3],
    }
    assert groups["lang=ja×intent=faq"][0] == {"lang": "ja", "intent": "faq"}


def test_paired_slice_figures_by_hand() -> None:
    table = slice_table(
        ROWS,
        np.array([1.0, 1.0, 0.0, 1.0]),
        np.array([0.0, 0.0, 0.0, 1.0]),
        dimensions=["lang"],
        intersections=[],
        n_resamples=100,
        seed=0,
    )
    assert table["metric"] == "accuracy" and table["dimensions"] == ["lang"] and table["intersections"] == []
    rows = {r["slice"]: r for r in table["rows"]}
    en, ja = rows["lang=en"], rows["lang=ja"]
    # en: both right against both wrong, a constant difference of 1
    assert (en["n"], en["candidate"], en["champion"], en["delta"]) == (2, 1.0, 0.0, 1.0)
    assert en["ci_low"] == en["ci_high"] == 1.0 and en["p_value"] == pytest.approx(1 / 101)
    # ja: the same answers on both examples, no difference at all
    assert (ja["candidate"], ja["champion"], ja["delta"]) == (0.5, 0.5, 0.0)
    assert ja["ci_low"] == ja["ci_high"] == 0.0 and ja["p_value"] == 1.0


def test_every_slice_is_measured_whatever_its_size() -> None:
    table = slice_table(
        ROWS,
        np.array([1.0, 0.0, 1.0, 1.0]),
        None,
        dimensions=["device"],
        intersections=[],
        n_resamples=100,
        seed=0,
        metric="ndcg@10",
    )
    (row,) = table["rows"]
    assert row["slice"] == "device=ios" and row["n"] == 1 and row["candidate"] == 1.0
    assert row["champion"] is None and row["delta"] is None and row["p_value"] is None
    assert row["ci_low"] == row["ci_high"] == 1.0  # support is judged by the policy, not here
    assert "insufficient_data" not in row and "min_support" not in table
