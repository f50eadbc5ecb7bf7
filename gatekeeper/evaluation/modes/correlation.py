"""Mode 5, offline-online correlation: is the offline primary metric a leading indicator of the
28-day online metric over the last promoted versions? It calibrates the canary, never gates."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gatekeeper.evaluation import stats


def correlation_mode(pairs: Sequence[dict[str, Any]], *, online_metric: str) -> dict[str, Any]:
    """``pairs``: [{candidate_id, version, offline, online}] for promoted versions, oldest first."""
    xs = [p["offline"] for p in pairs]
    ys = [p["online"] for p in pairs]
    return {"online_metric": online_metric, "pairs": list(pairs), **stats.correlation(xs, ys)}
