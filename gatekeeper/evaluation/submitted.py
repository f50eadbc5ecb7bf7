"""Predictions submitted for models that run elsewhere: a JSONL file, parsed from its bytes (read once, by
the caller, which hashes the same bytes) and checked whole.

Lines are decoded by msgspec in C, a classification line into a struct whose ``probabilities`` has one
field per target label (an unknown label is refused while decoding); the checks then run on arrays
(labels, the probability matrix, sums) instead of line by line in Python. Every evalset example id must
appear exactly once. The first bad line is refused with its line number (from 1, counting blank lines)
and its field; line numbers are looked up only when something is wrong.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import msgspec
import numpy as np

from gatekeeper.errors import ValidationFailed
from gatekeeper.evaluation.predictions import TOP_K, Predictions, TopK

_SHOWN = 20  # ids listed in an error before "and N more"
SUM_TOLERANCE = 1e-3  # a line's probabilities must sum to 1 within this
_GENERIC = msgspec.json.Decoder(dict[str, Any])
_KNOWN = "probabilities need known labels and values in [0, 1]"


@lru_cache(maxsize=32)
def _classification_decoder(labels: tuple[str, ...]) -> msgspec.json.Decoder:
    """Lines whose ``probabilities`` may name each label at most once, and nothing else."""
    names = [f"p{i}" for i in range(len(labels))]
    probabilities = msgspec.defstruct(
        "Probabilities",
        [(name, float, None) for name in names],
        rename=dict(zip(names, labels, strict=True)),
        forbid_unknown_fields=True,
        gc=False,
    )
    line = msgspec.defstruct(
        "ClassificationLine",
        [
            ("id", str),
            ("prediction", str),
            ("probabilities", probabilities),
            ("latency_ms", float | None, None),
        ],
        gc=False,
    )
    return msgspec.json.Decoder(line)


def parse_submitted(data: bytes, *, task: str, expected_ids: set[str], labels: Sequence[str]) -> Predictions:
    """Parse and check a predictions file's bytes; every evalset id exactly once, nothing else."""
    if task == "classification":
        lines = _decode(data, _classification_decoder(tuple(labels)))
        _check_ids([line.id for line in lines], expected_ids)
        return _classification(lines, labels, data)
    rows = _decode(data, _GENERIC)
    no_id = np.array([not isinstance(row.get("id"), str) for row in rows], dtype=bool)
    _refuse_first(data, [_Check(no_id, "predictions.id", lambda i: "each line needs a string 'id'")])
    _check_ids([row["id"] for row in rows], expected_ids)
    outputs = [(_ranking_line if task == "ranking" else _generation_line)(row) for row in rows]
    bad = np.array([isinstance(o, _Bad) for o in outputs], dtype=bool)
    _refuse_first(
        data, [_Check(bad, "", lambda i: outputs[i].message, lambda i: {"field": outputs[i].field})]
    )
    latency = [_latency(row.get("latency_ms")) for row in rows]
    given = any(v is not None for v in latency)
    return Predictions([row["id"] for row in rows], outputs, latency_ms=latency if given else [])


# --- decoding, and finding the bad line -------------------------------------------------------


def _decode(data: bytes, decoder: msgspec.json.Decoder) -> list[Any]:
    try:
        return decoder.decode_lines(data)
    except msgspec.DecodeError:
        _refuse_first_bad_line(data, decoder)
        raise  # not reached: when the whole fails, some line fails on its own


def _refuse_first_bad_line(data: bytes, decoder: msgspec.json.Decoder) -> None:
    for number, text in enumerate(data.split(b"\n"), 1):
        if not text.strip():
            continue
        try:
            decoder.decode(text)
        except msgspec.ValidationError as exc:
            name, message, extra = _field_of(str(exc))
            raise ValidationFailed(f"line {number}: {message}", field=name, line=number, **extra) from None
        except msgspec.DecodeError as exc:
            raise ValidationFailed(
                f"line {number}: not valid JSON ({exc})", field="predictions", line=number
            ) from None


def _quoted(message: str, after: str) -> str:
    return message.split(after, 1)[1].split("`", 1)[0]


def _field_of(message: str) -> tuple[str, str, dict[str, Any]]:
    """The field a msgspec error names (``- at `$.probabilities.faq```, ``missing required field
    `id```), what to say, and extra fields; a line that is not an object has no string id."""
    if "unknown field `" in message:
        return "predictions.probabilities", _KNOWN, {"unknown_labels": [_quoted(message, "unknown field `")]}
    if "missing required field `" in message:
        return f"predictions.{_quoted(message, 'missing required field `')}", message, {}
    if " - at `$." in message:
        path = _quoted(message, " - at `$.")
        return f"predictions.{path.split('[', 1)[0].split('.', 1)[0]}", message, {}
    return "predictions.id", f"each line needs a string 'id' ({message})", {}


def line_of(data: bytes, index: int) -> int:
    """The line number (from 1) of the ``index``-th non-blank line."""
    seen = -1
    for number, text in enumerate(data.split(b"\n"), 1):
        if text.strip():
            seen += 1
            if seen == index:
                return number
    raise IndexError(index)


@dataclass(frozen=True)
class _Check:
    """One rule over all lines: where it fails, the field it names, and what to say about line i."""

    bad: np.ndarray
    field: str
    message: Callable[[int], str]
    extra: Callable[[int], dict[str, Any]] = field(default=lambda i: {})


def _refuse_first(data: bytes, checks: list[_Check]) -> None:
    """Refuse the first line that fails any check; on one line, checks apply in the order given."""
    firsts = [(int(np.argmax(c.bad)), order) for order, c in enumerate(checks) if c.bad.any()]
    if not firsts:
        return
    row, order = min(firsts)
    check, line = checks[order], line_of(data, row)
    fields = {"field": check.field, **check.extra(row)}
    raise ValidationFailed(f"line {line}: {check.message(row)}", line=line, **fields)


# --- ids ----------------------------------------------------------------------------------------


def _check_ids(ids: list[str], expected: set[str]) -> None:
    if len(ids) == len(expected) and set(ids) == expected:
        return
    seen = Counter(ids)
    missing, extra = sorted(expected - set(seen)), sorted(set(seen) - expected)
    duplicated = sorted(i for i, n in seen.items() if n > 1)
    raise ValidationFailed(
        f"predictions must cover every evalset example exactly once: {len(missing)} missing, "
        f"{len(extra)} unknown, {len(duplicated)} duplicated",
        field="predictions",
        missing_ids=missing[:_SHOWN],
        missing_count=len(missing),
        extra_ids=extra[:_SHOWN],
        extra_count=len(extra),
        duplicate_ids=duplicated[:_SHOWN],
        duplicate_count=len(duplicated),
    )


# --- classification, on arrays ----------------------------------------------------------------------


def _classification_checks(lines: Sequence[Any], predicted: np.ndarray, matrix: np.ndarray) -> list[_Check]:
    """The rules in the order they apply to one line; ``matrix`` is NaN where a label was not given."""
    given = ~np.isnan(matrix)
    sums = np.nansum(matrix, axis=1)
    prob = "predictions.probabilities"
    return [
        _Check(
            predicted < 0,
            "predictions.prediction",
            lambda i: f"prediction {lines[i].prediction!r} is not one of the target's labels",
        ),
        _Check(~given.any(axis=1), prob, lambda i: "probabilities must be an object {label: p}"),
        _Check(
            (given & ((matrix < 0) | (matrix > 1))).any(axis=1),
            prob,
            lambda i: _KNOWN,
            lambda i: {"unknown_labels": []},
        ),
        _Check(
            np.abs(sums - 1.0) > SUM_TOLERANCE, prob, lambda i: f"probabilities sum to {sums[i]:.4f}, not 1"
        ),
        _Check(
            ~given[np.arange(len(lines)), np.maximum(predicted, 0)],
            prob,
            lambda i: f"probabilities give no value for the predicted label {lines[i].prediction!r}",
        ),
    ]


def _classification(lines: Sequence[Any], labels: Sequence[str], data: bytes) -> Predictions:
    index = {label: i for i, label in enumerate(labels)}
    predicted = np.array([index.get(line.prediction, -1) for line in lines], dtype=np.int64)
    astuple = msgspec.structs.astuple
    matrix = np.array([astuple(line.probabilities) for line in lines], dtype=float).reshape(
        len(lines), len(labels)
    )
    _refuse_first(data, _classification_checks(lines, predicted, matrix))
    rows = np.arange(len(lines))
    # Top-k among the given labels, highest first (ties in label order); NaN (not given) sorts last.
    order = np.argsort(-matrix, axis=1, kind="stable")[:, :TOP_K]
    top_p = matrix[rows[:, None], order]
    latency = [line.latency_ms for line in lines]
    return Predictions(
        [line.id for line in lines],
        [labels[j] for j in predicted.tolist()],
        matrix[rows, predicted].tolist(),
        TopK(np.where(np.isnan(top_p), -1, order).astype(np.int32), top_p, tuple(labels)),
        latency if any(v is not None for v in latency) else [],
    )


# --- ranking and generation, line by line --------------------------------------------------------


@dataclass(frozen=True)
class _Bad:
    field: str
    message: str


def _latency(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _ranking_line(row: dict[str, Any]) -> dict[str, float] | _Bad:
    scores = row.get("scores")
    if not isinstance(scores, dict) or not all(isinstance(v, int | float) for v in scores.values()):
        return _Bad("predictions.scores", "scores must be an object {doc_id: number}")
    return {str(k): float(v) for k, v in scores.items()}


def _generation_line(row: dict[str, Any]) -> dict[str, Any] | _Bad:
    if not isinstance(row.get("output"), str):
        return _Bad("predictions.output", "output must be a string")
    calls = row.get("tool_calls") or []
    if not isinstance(calls, list):
        return _Bad("predictions.tool_calls", "tool_calls must be a list")
    return {"output": row["output"], "tool_calls": calls}
