"""The dashboard's data layer: pure shaping functions on hand-made API documents, and the API calls
against the seeded deployment (compared with what the API itself returns)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from dashboards import charts, data
from tests.dashboards.conftest import Deployment

# --- pure shaping --------------------------------------------------------------------------------

DECISION = {
    "hard_failures": [
        {"check": "slice", "slice": "lang=ja", "severity": "hard", "message": "ja regressed"},
        {"check": "golden.floor", "slice": None, "severity": "hard", "message": "floor"},
    ],
    "soft_flags": [
        {"check": "slice", "slice": "lang=ja", "severity": "soft", "message": "also soft"},
        {"check": "slice", "slice": "device=ios", "severity": "soft", "message": "ios"},
        {"check": "adversarial", "slice": "typo", "severity": "soft", "message": "typos"},
    ],
}


def _slice(key: str, n: int, cand: float, champ: float | None, p: float | None, small: bool = False) -> dict:
    delta = None if champ is None else cand - champ
    return {
        "slice": key,
        "dimensions": dict(part.split("=") for part in key.split("×")),
        "n": n,
        "candidate": cand,
        "champion": champ,
        "delta": delta,
        "ci_low": None if small or delta is None else delta - 0.1,
        "ci_high": None if small or delta is None else delta + 0.1,
        "p_value": None if small else p,
        "insufficient_data": small,
    }


def test_flagged_slices_keep_the_worst_severity_and_only_slice_checks() -> None:
    assert data.flagged_slices(DECISION) == {"lang=ja": "hard", "device=ios": "soft"}
    assert data.flagged_slices(None) == {}


def test_slice_frame_orders_judged_worst_first_then_small_slices() -> None:
    rows = [
        _slice("lang=en", 120, 0.80, 0.78, 0.30),
        _slice("lang=ja", 100, 0.60, 0.75, 0.001),
        _slice("lang=mixed×cohort=power", 4, 0.0, 1.0, None, small=True),
        _slice("device=ios", 90, 0.70, 0.74, 0.04),
    ]
    frame = data.slice_frame({"rows": rows}, DECISION)
    assert list(frame["slice"]) == ["lang=ja", "device=ios", "lang=en", "lang=mixed×cohort=power"]
    assert list(frame["flag"]) == ["hard", "soft", "", ""]
    assert list(frame["support"]) == ["judged", "judged", "judged", "insufficient data"]
    assert list(frame["significant"]) == [True, True, False, None]
    assert frame.loc[0, "delta"] == pytest.approx(-0.15)
    chart = charts.slice_delta_chart(frame)
    assert chart is not None
    plotted = [rows for rows in chart.to_dict()["datasets"].values() if rows and "slice" in rows[0]]
    assert [r["slice"] for r in plotted[0]] == ["lang=ja", "device=ios", "lang=en"]  # judged ones only


def test_first_model_slices_have_no_delta() -> None:
    rows = [_slice("lang=en", 50, 0.9, None, None), _slice("lang=ja", 50, 0.7, None, None)]
    frame = data.slice_frame({"rows": rows}, None)
    assert list(frame["slice"]) == ["lang=ja", "lang=en"]  # worst score first when nothing to compare
    assert frame["delta"].isna().all() and charts.slice_delta_chart(frame) is None


def test_comparisons_table_with_and_without_champion() -> None:
    comparison = {"candidate": 0.9, "champion": 0.85, "delta": 0.05, "ci_low": 0.01, "ci_high": 0.09}
    golden = {"comparisons": {"accuracy": comparison | {"p_value": 0.01, "n": 300}}}
    table = data.comparisons_table(golden)
    assert table.loc[0].to_dict() == {
        "metric": "accuracy",
        "candidate": 0.9,
        "champion": 0.85,
        "delta": 0.05,
        "ci low": 0.01,
        "ci high": 0.09,
        "p": 0.01,
        "significant": True,
        "n": 300,
    }
    first = data.comparisons_table(
        {"intervals": {"macro_f1": {"value": 0.7, "ci_low": 0.6, "ci_high": 0.8, "n": 9}}}
    )
    assert (
        first.loc[0, "candidate"] == 0.7 and pd.isna(first.loc[0, "delta"]) and first.loc[0, "ci low"] == 0.6
    )
    assert charts.delta_chart(first) is None and charts.delta_chart(table) is not None


def test_per_class_table_pairs_candidate_and_champion() -> None:
    golden = {
        "candidate": {
            "per_class": {
                "faq": {"precision": 0.5, "recall": 0.4, "f1": 0.44, "support": 10},
                "escalation": {"precision": 1.0, "recall": 0.3, "f1": 0.46, "support": 10},
            },
            "rare_recall": {"escalation": 0.3},
        },
        "champion": {
            "per_class": {"faq": {"recall": 0.5, "f1": 0.5}, "escalation": {"recall": 0.2, "f1": 0.3}}
        },
    }
    table = data.per_class_table(golden).set_index("class")
    assert table.loc["escalation", "critical"] and not table.loc["faq", "critical"]
    assert table.loc["faq", "delta f1"] == pytest.approx(-0.06)
    assert table.loc["escalation", "champion recall"] == 0.2


def test_confusion_frame_shares_are_per_true_row() -> None:
    report = {"labels": ["a", "b"], "confusion_matrix": [[3, 1], [0, 2]]}
    frame = data.confusion_frame(report)
    assert frame.to_dict("records") == [
        {"true": "a", "predicted": "a", "count": 3, "share": 0.75},
        {"true": "a", "predicted": "b", "count": 1, "share": 0.25},
        {"true": "b", "predicted": "a", "count": 0, "share": 0.0},
        {"true": "b", "predicted": "b", "count": 2, "share": 1.0},
    ]
    spec = charts.confusion_heatmap(frame).to_dict()
    assert spec["layer"][0]["mark"]["type"] == "rect"


def test_reliability_frame_drops_empty_bins() -> None:
    bins = [
        {"bin_lower": 0.0, "bin_upper": 0.5, "mean_confidence": None, "accuracy": None, "count": 0},
        {"bin_lower": 0.5, "bin_upper": 1.0, "mean_confidence": 0.8, "accuracy": 0.75, "count": 4},
    ]
    frame = data.reliability_frame({"reliability": bins})
    assert frame.to_dict("records") == [
        {"bin": "(0.50, 1.00]", "mean confidence": 0.8, "accuracy": 0.75, "count": 4}
    ]
    assert "ECE 0.0500" in charts.reliability_chart(frame, 0.05).to_dict()["title"]


def test_example_frame_marks_right_answers_and_disagreements() -> None:
    items = [
        {
            "id": "g-1",
            "text": "where is my order",
            "label": "order_tracking",
            "lang": "en",
            "candidate": {
                "prediction": "order_tracking",
                "confidence": 0.9,
                "topk": [["order_tracking", 0.9]],
            },
            "champion": {"prediction": "faq", "confidence": 0.5, "topk": []},
        },
        {
            "id": "g-2",
            "text": "返品したい",
            "label": "return_request",
            "lang": "ja",
            "candidate": {"prediction": "faq", "confidence": 0.4, "topk": []},
            "champion": None,
        },
    ]
    frame = data.example_frame(items)
    assert list(frame["candidate right"]) == [True, False]
    assert frame.loc[0, "champion right"] == False  # noqa: E712 - a numpy bool
    assert frame.loc[0, "disagree"] == True and frame.loc[1, "disagree"] is None  # noqa: E712
    assert frame.loc[0, "candidate top-k"] == "order_tracking 0.90"


def test_example_query_sends_only_set_filters() -> None:
    assert data.ExampleQuery().params() == {"role": "golden", "limit": 50, "offset": 0} | {
        k: None for k in ("label", "predicted", "lang", "slice", "min_confidence", "max_confidence")
    }
    params = data.ExampleQuery(role="holdout", slice="lang=ja", disagree=True, offset=50).params()
    assert params["disagree"] is True and params["slice"] == "lang=ja" and params["offset"] == 50


def test_epoch_frame_and_run_table() -> None:
    metrics = {
        "final": {"macro_f1": 0.41, "accuracy": 0.45},
        "epochs": [
            {"epoch": 1, "macro_f1": 0.36, "train_loss": 1.8, "val_loss": 1.7, "note": "warmup"},
            {"epoch": 2, "macro_f1": 0.41, "train_loss": 1.6, "val_loss": 1.6},
        ],
    }
    epochs = data.epoch_frame(metrics)
    assert len(epochs) == 6 and set(epochs["metric"]) == {"macro_f1", "train_loss", "val_loss"}
    assert epochs[(epochs["epoch"] == 2) & (epochs["metric"] == "macro_f1")]["value"].item() == 0.41
    runs = [
        {
            "id": "r1",
            "target": "t",
            "trainer": "intent",
            "status": "succeeded",
            "tags": {},
            "metrics": metrics,
        },
        {
            "id": "r2",
            "target": "t",
            "trainer": "intent",
            "status": "succeeded",
            "tags": {"seed": "1"},
            "metrics": {"accuracy": 0.5, "registered_candidate_id": "c9", "registered_version": 9},
        },
    ]
    table = data.run_table(
        runs, data.registered_candidates([{"id": "c1", "version": 3, "training_run_id": "r1"}])
    )
    assert list(table["candidate"]) == ["v3", "v9"] and list(table["candidate id"]) == ["c1", "c9"]
    assert (
        table.loc[0, "macro_f1"] == 0.41 and table.loc[0, "epochs"] == 2 and table.loc[1, "accuracy"] == 0.5
    )
    assert table.loc[1, "tags"] == "seed=1"


def test_audit_cursor_and_progress() -> None:
    rows = [{"id": 9}, {"id": 8}, {"id": 7}]
    assert data.next_before_id(rows, 3) == 7
    assert data.next_before_id(rows, 5) is None and data.next_before_id([], 5) is None
    assert data.progress_fraction({"done": 30, "total": 120}) == 0.25
    assert data.progress_fraction({"stage": "queued"}) is None


# --- against the API -----------------------------------------------------------------------------


@pytest.mark.slow
def test_reads_match_the_api(deployment: Deployment) -> None:
    api = deployment.client()
    everything = api.get("/v1/candidates", limit=500)["items"]
    paged = data.candidates(api, page_size=1)  # follows next_cursor one candidate at a time
    assert [c["id"] for c in paged] == [c["id"] for c in everything]
    champions = data.candidates(api, status="champion")
    assert {c["id"] for c in champions} == {deployment.ids["champion"], deployment.ids["reranker_champion"]}
    assert data.champion(api, "intent_classifier")["id"] == deployment.ids["champion"]
    assert data.champions_of(data.targets(api))["intent_classifier"]["id"] == deployment.ids["champion"]
    assert data.routing_table(data.routing(api, "intent_classifier"))["weight"].sum() == pytest.approx(1.0)
    eid = deployment.ids["candidate_eval"]
    assert json.loads(data.report(api, eid, "json")) == api.get(f"/v1/evaluations/{eid}/report")
    assert data.report(api, eid, "md").startswith("## ")
    total, frame = data.examples(api, eid, data.ExampleQuery(role="holdout", slice="lang=ja", limit=5))
    n = next(r["n"] for r in deployment.evaluation["results"]["slices"]["rows"] if r["slice"] == "lang=ja")
    assert total == n and len(frame) == 5 and set(frame["lang"]) == {"ja"}
    page = data.audit(api, data.AuditQuery(action="evaluation.finish", limit=10))
    assert {e["entity_id"] for e in page} == {
        deployment.ids[name]
        for name in ("champion_eval", "candidate_eval", "reranker_champion_eval", "reranker_candidate_eval")
    }
