"""Submitted predictions: parsed from bytes and checked whole; a bad file is refused with the line and
field of its first bad line, or with the ids that are missing, unknown or repeated."""

from __future__ import annotations

import json

import pytest

from gatekeeper.errors import ValidationFailed
from gatekeeper.evaluation.submitted import parse_submitted

LABELS = ["faq", "escalation", "order_tracking", "chitchat"]
IDS = {"a", "b", "c", "d"}


def line(ident: str, prediction: str = "faq", **fields: object) -> dict:
    probabilities = {"faq": 0.7, "escalation": 0.2, "order_tracking": 0.1}
    return {"id": ident, "prediction": prediction, "probabilities": probabilities} | fields


def body(*lines: dict | str) -> bytes:
    return "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines).encode()


def good() -> list[dict]:
    return [
        line("a"),
        line("b", "escalation", probabilities={"escalation": 0.9, "faq": 0.1}),
        line("c"),
        line("d"),
    ]


def refused(data: bytes, task: str = "classification") -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        parse_submitted(data, task=task, expected_ids=IDS, labels=LABELS)
    return caught.value


def test_a_good_file_gives_label_confidence_topk_and_latency() -> None:
    rows = good()
    rows[0]["latency_ms"] = 4
    preds = parse_submitted(body(*rows), task="classification", expected_ids=IDS, labels=LABELS)
    assert preds.ids == ["a", "b", "c", "d"]
    assert preds.output == ["faq", "escalation", "faq", "faq"]
    assert preds.confidence == [0.7, 0.9, 0.7, 0.7]  # the predicted label's probability
    assert preds.topk[0] == [("faq", 0.7), ("escalation", 0.2), ("order_tracking", 0.1)]
    assert preds.topk[1] == [("escalation", 0.9), ("faq", 0.1)]  # only the labels given
    assert preds.latency_ms == [4.0, None, None, None]
    assert preds.subset(["b"]).topk[0] == [("escalation", 0.9), ("faq", 0.1)]


def test_blank_lines_are_skipped_and_counted() -> None:
    rows = good()
    data = body(rows[0], "", rows[1], "   ", rows[2], json.dumps(line("d", "shipping")))
    error = refused(data)
    assert (error.fields["line"], error.fields["field"]) == (6, "predictions.prediction")
    assert "'shipping' is not one of the target's labels" in error.detail


@pytest.mark.parametrize(
    ("bad", "field", "text"),
    [
        ('{"id": "c", "prediction": "faq",', "predictions", "not valid JSON"),
        ("[1, 2]", "predictions.id", "each line needs a string 'id'"),
        (json.dumps(line("c") | {"id": 7}), "predictions.id", "Expected `str`, got `int`"),
        (json.dumps({"id": "c", "prediction": "faq"}), "predictions.probabilities", "missing required field"),
        (json.dumps(line("c", probabilities="faq")), "predictions.probabilities", "Expected `object`"),
        (json.dumps(line("c", latency_ms="fast")), "predictions.latency_ms", "Expected `float | null`"),
        (json.dumps(line("c", probabilities={})), "predictions.probabilities", "must be an object"),
        (
            json.dumps(line("c", probabilities={"faq": 0.7, "refund": 0.3})),
            "predictions.probabilities",
            "known labels",
        ),
        (
            json.dumps(line("c", probabilities={"faq": 1.5, "escalation": -0.5})),
            "predictions.probabilities",
            "[0, 1]",
        ),
        (
            json.dumps(line("c", probabilities={"faq": 0.5, "escalation": 0.4})),
            "predictions.probabilities",
            "sum to 0.9000",
        ),
        (
            json.dumps(line("c", probabilities={"escalation": 1.0})),
            "predictions.probabilities",
            "no value for the predicted",
        ),
    ],
)
def test_a_bad_line_is_refused_with_its_number_and_field(bad: str, field: str, text: str) -> None:
    rows = good()
    error = refused(body(rows[0], rows[1], bad, rows[3]))
    assert (error.fields["line"], error.fields["field"]) == (3, field), error.to_dict()
    assert error.detail.startswith("line 3: ") and text in error.detail, error.detail


def test_unknown_labels_are_named() -> None:
    rows = good()
    rows[1] = line("b", probabilities={"faq": 0.7, "refund": 0.3})
    assert refused(body(*rows)).fields["unknown_labels"] == ["refund"]


def test_the_first_bad_line_wins_whatever_rule_it_breaks() -> None:
    rows = good()
    rows[1] = line("b", probabilities={"faq": 0.5, "escalation": 0.1})  # line 2: sum
    rows[3] = line("d", "shipping")  # line 4: label, a rule checked before the sum on any one line
    error = refused(body(*rows))
    assert (error.fields["line"], error.detail) == (2, "line 2: probabilities sum to 0.6000, not 1")


def test_ids_must_be_the_evalset_exactly_once() -> None:
    rows = good()
    error = refused(body(rows[0], rows[1], rows[1], line("zz")))
    assert error.fields["field"] == "predictions"
    assert (error.fields["missing_ids"], error.fields["extra_ids"], error.fields["duplicate_ids"]) == (
        ["c", "d"],
        ["zz"],
        ["b"],
    )
    assert (error.fields["missing_count"], error.fields["extra_count"], error.fields["duplicate_count"]) == (
        2,
        1,
        1,
    )


def test_ranking_and_generation_lines() -> None:
    scores = [{"id": i, "scores": {"d1": 1, "d2": 0.5}} for i in sorted(IDS)]
    preds = parse_submitted(body(*scores), task="ranking", expected_ids=IDS, labels=[])
    assert preds.get("a") == {"d1": 1.0, "d2": 0.5}
    scores[2]["scores"] = ["d1"]
    error = refused(body(*scores), task="ranking")
    assert (error.fields["line"], error.fields["field"]) == (3, "predictions.scores")
    answers = [{"id": i, "output": "ok", "latency_ms": 3} for i in sorted(IDS)]
    preds = parse_submitted(body(*answers), task="generation", expected_ids=IDS, labels=[])
    assert preds.get("d") == {"output": "ok", "tool_calls": []} and preds.latency("d") == 3.0
    answers[1]["tool_calls"] = "search"
    error = refused(body(*answers), task="generation")
    assert (error.fields["line"], error.fields["field"]) == (2, "predictions.tool_calls")
    answers[1] = {"output": "no id"}
    error = refused(body(*answers), task="generation")
    assert (error.fields["line"], error.fields["field"]) == (2, "predictions.id")
