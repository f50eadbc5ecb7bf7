"""What the generation metrics and their RAGAS and promptfoo runners share: the metric error, the
finite-value guard and the tool-call shape. Its own module so the runners never import the report
that calls them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any


class MetricError(RuntimeError):
    """A metric could not be computed (NaN from a library, judge failure): never reported as a value."""


def finite_or_error(value: float | None, what: str) -> float:
    """Refuse NaN/inf coming back from a library: a missing value is an error, never a score."""
    if value is None or not math.isfinite(value):
        raise MetricError(f"{what} is not a finite number ({value!r})")
    return float(value)


def normalise_tool_calls(calls: Iterable[Any] | None) -> list[dict[str, Any]]:
    """Flatten OpenAI-shaped or flat tool calls to ``{"name", "arguments"}`` (arguments left raw)."""
    flat: list[dict[str, Any]] = []
    for call in calls or []:
        if not isinstance(call, Mapping):
            flat.append({"name": "", "arguments": call})
            continue
        fn = call.get("function")
        body: Mapping[str, Any] = fn if isinstance(fn, Mapping) else call
        flat.append({"name": str(body.get("name") or ""), "arguments": body.get("arguments")})
    return flat
