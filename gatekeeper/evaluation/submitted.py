"""Predictions submitted for models that run elsewhere: a JSONL file, parsed from its bytes (read once, by
the caller, which hashes the same bytes) and checked whole.

Lines are decoded by msgspec in C; a classification file's checks then run on arrays (labels, the
probability matrix, sums) instead of line by line in Python. Every evalset example id must appear exactly
once. The first bad line is refused with its line number (from 1, counting blank lines) and its field;
line numbers are looked up only when something is wrong.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import msgspec
import numpy as np

from gatekeeper.errors import ValidationFailed
from gatekeeper.evaluation.predictions import TOP_K, Predictions, TopK

_SHOWN = 20  # ids listed in an error before "and N more"
SUM_TOLERANCE = 1e-3  # a line's probabilities must sum to 1 within this


class ClassificationLine(msgspec.Struct):
    id: str
    prediction: str
    probabilities: dict[str, float]
    latency_ms: float | None = None


_CLASSIFICATION = msgspec.json.Decoder(ClassificationLine)
_GENERIC = msgspec.json.Decoder(dict[str, Any])


def parse_submitted(data: bytes, *, task: str, expected_ids: set[str], labels: Sequence[str]) -> Predictions:
    """Parse and check a predictions file's bytes; every evalset id exactly once, nothing else."""
    if task == "classification":
        lines = _decode(data, _CLASSIFICATION)
        _check_ids([line.id for line in lines], expected_ids)
        return _classification(lines, labels, data)
    rows = _decode(data, _GENERIC)
    _refuse_first(
        data,
        [
            _Check(
                np.array([not isinstance(r.get("id"), str) for r in rows], dtype=bool),
                "predictions.id",
                lambda i: "each line needs a string 'id'",
            )
        ],
    )
    _check_ids([row["id"] for row in rows], expected_ids)
    outputs = [(_ranking_line if task == "ranking" else _generation_line)(row) for row in rows]
    _refuse_first(
        data,
        [
            _Check(
                np.array([isinstance(o, _Bad) for o in outputs], dtype=bool),
                "",
                lambda i: outputs[i].message,
                lambda i: {"field": outputs[i].field},
            )
        ],
    )
    latency = [_latency(row.get("latency_ms")) for row in rows]
    return Predictions(
        [row["id"] for row in rows],
        outputs,
        latency_ms=latency if any(v is not None for v in latency) else [],
    )


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
            name, message = _field_of(str(exc))
            raise ValidationFailed(f"line {number}: {message}", field=name, line=number) from None
        except msgspec.DecodeError as exc:
            raise ValidationFailed(
                f"line {number}: not valid JSON ({exc})", field="predictions", line=number
            ) from None


def _field_of(message: str) -> tuple[str, str]:
    """The field a msgspec error names (``- at `$.probabilities[...]```, ``missing required field
    `id```); a line that is not an object is a line without a string id."""
    if "missing required field `" in message:
        name = message.split("missing required field `", 1)[1].split("`", 1)[0]
        return f"predictions.{name}", message
    if " - at `$." in message:
        name = message.split(" - at `$.", 1)[1].split("`", 1)[0]
        return f"predictions.{name.split('[', 1)[0].split('.', 1)[0]}", message
    return "predictions.id", f"each line needs a string 'id' ({message})"


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


def probability_matrix(
    lines: Sequence[ClassificationLine], index: dict[str, int]
) -> tuple[np.ndarray, np.ndarray]:
    """The (n, K) matrix of the given probabilities (NaN where a label was not given) and, per line,
    whether it named a label outside ``index``. Lines with the same keys in the same order (nearly all)
    form one group, filled by one array assignment."""
    groups: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for i, line in enumerate(lines):
        groups[tuple(line.probabilities)].append(i)
    matrix = np.full((len(lines), len(index)), np.nan)
    unknown = np.zeros(len(lines), dtype=bool)
    for keys, members in groups.items():
        columns = [index.get(key, -1) for key in keys]
        if -1 in columns:
            unknown[members] = True
        elif keys:
            flat = chain.from_iterable(lines[i].probabilities.values() for i in members)
            values = np.fromiter(flat, dtype=float, count=len(members) * len(keys))
            matrix[np.array(members)[:, None], columns] = values.reshape(len(members), len(keys))
    return matrix, unknown


def _classification_checks(
    lines: Sequence[ClassificationLine],
    labels: Sequence[str],
    predicted: np.ndarray,
    matrix: np.ndarray,
    unknown: np.ndarray,
) -> list[_Check]:
    given = ~np.isnan(matrix)
    out_of_range = (given & ((matrix < 0) | (matrix > 1))).any(axis=1)
    sums = np.nansum(matrix, axis=1)
    prob = "predictions.probabilities"
    return [
        _Check(
            predicted < 0,
            "predictions.prediction",
            lambda i: f"prediction {lines[i].prediction!r} is not one of the target's labels",
        ),
        _Check(~given.any(axis=1) & ~unknown, prob, lambda i: "probabilities must be an object {label: p}"),
        _Check(
            unknown | out_of_range,
            prob,
            lambda i: "probabilities need known labels and values in [0, 1]",
            lambda i: {"unknown_labels": [k for k in lines[i].probabilities if k not in labels]},
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


def _classification(lines: Sequence[ClassificationLine], labels: Sequence[str], data: bytes) -> Predictions:
    index = {label: i for i, label in enumerate(labels)}
    predicted = np.array([index.get(line.prediction, -1) for line in lines], dtype=np.int64)
    matrix, unknown = probability_matrix(lines, index)
    _refuse_first(data, _classification_checks(lines, labels, predicted, matrix, unknown))
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
