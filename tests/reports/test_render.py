"""Reports render for every task from the canonical document, without a database."""

from __future__ import annotations

import pytest

import reports


def document(task: str, golden: dict, replay: dict | None) -> dict:
    return {
        "schema_version": 1,
        "evaluation": {
            "id": "e1",
            "status": "done",
            "mode": "artifact",
            "target": "t",
            "task": task,
            "policy_version": 1,
            "requested_by": "ci",
            "created_at": "x",
            "finished_at": "y",
            "timings": {},
            "error": None,
            "predictions_sha256": None,
        },
        "evalset": {"dir": "evalsets/t", "version": "1", "files": {}},
        "candidate": {
            "id": "c",
            "version": 2,
            "status": "gate_passed",
            "artifact_sha256": "a" * 64,
            "tags": {},
        },
        "champion": {"id": "h", "version": 1, "status": "champion", "artifact_sha256": "b" * 64, "tags": {}},
        "decision": {
            "verdict": "pass",
            "summary": "PASS: 0 hard failure(s), 0 soft flag(s)",
            "hard_failures": [],
            "soft_flags": [],
            "extended_canary": True,
            "extended_reason": "only 0 pairs",
        },
        "results": {"task": task, "golden": golden, "replay": replay, "correlation": {"n": 0}},
    }


CMP = {"candidate": 0.8, "champion": 0.7, "delta": 0.1, "ci_low": 0.05, "ci_high": 0.15, "p_value": 0.001}


@pytest.mark.parametrize(
    ("task", "golden", "replay", "expected"),
    [
        (
            "classification",
            {
                "n": 5,
                "candidate": {"ece": 0.05},
                "champion": {"ece": 0.06},
                "comparisons": {"macro_f1": CMP},
                "latency": {"p95_ms": 9.0},
            },
            {
                "n_sessions": 10,
                "n_labelled": 6,
                "quality": {**CMP, "metric": "routing_accuracy"},
                "cost": {"candidate": 0.01, "champion": 0.012},
                "cost_change_relative": -0.16,
                "changed_rate": 0.1,
                "rescued": 1,
                "broken": 0,
            },
            ["macro_f1", "ece", "cost per session", "latency p95"],
        ),
        (
            "ranking",
            {"n": 5, "candidate": {"ndcg@1": 0.5}, "champion": None, "comparisons": {"ndcg@10": CMP}},
            {
                "n_sessions": 10,
                "n_labelled": 4,
                "quality": {"metric": "top1_ctr", "candidate": 0.3, "champion": 0.2},
                "counterfactual": {
                    "ips": {"value": 0.31},
                    "snips": {"value": 0.3},
                    "logging_ctr": {"value": 0.2},
                    "match_rate": 0.4,
                    "effective_sample_size": 3.2,
                },
                "cost": None,
                "cost_change_relative": None,
                "changed_rate": 0.6,
                "rescued": 0,
                "broken": 0,
            },
            ["ndcg@10", "ndcg@1", "SNIPS 0.3000"],
        ),
        (
            "generation",
            {
                "n": 5,
                "candidate": {"safety_failures": 1},
                "champion": {"safety_failures": 0},
                "comparisons": {"promptfoo_pass": CMP},
            },
            None,
            ["promptfoo_pass", "safety_failures"],
        ),
    ],
)
def test_every_task_renders_markdown_and_html(task, golden, replay, expected) -> None:  # noqa: ANN001
    doc = document(task, golden, replay)
    md = reports.render(doc, "md")
    for text in expected:
        assert text in md, text
    html = reports.render(doc, "html")
    assert html.startswith("<!doctype html>") and "PASS" in html
    assert reports.render(doc, "json").startswith("{")


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown report format"):
        reports.render(document("classification", {"n": 0, "candidate": {}}, None), "pdf")
