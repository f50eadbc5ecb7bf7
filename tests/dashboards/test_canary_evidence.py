"""The canary console's evidence line: have of need as the API reported it (the console computes nothing)."""

from __future__ import annotations

from dashboards import canary_data as cd


def test_have_of_need_reads_the_api_figures() -> None:
    evidence = {
        "windows_received": 2030,
        "windows_evaluable": 3,
        "canary_requests": 180,
        "need_windows": 31,
        "need_requests": 1511,
    }
    assert cd.evidence_have_need(evidence) == {
        "windows": "3 of 31",
        "requests": "180 of 1,511",
        "received": "2,030",
    }
    unknown = cd.evidence_have_need({**evidence, "need_requests": None})
    assert unknown["requests"].startswith("180 of ?")


def test_insufficient_evidence_trigger_in_words() -> None:
    trigger = {
        "rule": "insufficient_evidence",
        "metric": None,
        "window_starts": [],
        "figures": {"windows_evaluable": 0, "need_windows": 37, "canary_requests": 0, "need_requests": 1813},
    }
    sentence = cd.rule_sentence(trigger)
    assert "progress deadline" in sentence and "0 of 37" in sentence and "0 of 1,813" in sentence
    assert cd.trigger_summary(trigger)["metric"] == "evidence"
