"""Evidently 0.7 drift report: per-column PSI for a second opinion and an HTML page for the dashboard.

Our alerting numbers come from ``gatekeeper.drift.stats``; Evidently bins differently, so its PSI is a
cross-check, not the alert source:

* numeric columns with more than 20 distinct reference values: equal-width bins (Sturges' rule) over the
  *combined* reference+current range, so the bins move with the current window (ours: reference
  deciles, fixed once per champion);
* columns with at most 20 distinct values and categorical columns: one bucket per value seen in either
  sample, which is exactly our categorical bucketing;
* an empty bucket is replaced by 1e-4 without renormalising (ours: floor at 1e-4 and renormalise), so on
  data without empty buckets the two agree to rounding, and otherwise within a fraction of a percent.

Evidently is imported lazily: its import pulls in a web stack and emits third-party deprecation warnings
that only the dashboard and the drift report need to pay for.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd


def _evidently() -> tuple[Any, Any, Any, Any]:
    os.environ.setdefault("DO_NOT_TRACK", "1")  # no usage telemetry from a gate that runs offline
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift

    return Report, Dataset, DataDefinition, ValueDrift


def evidently_drift(
    reference_df: pd.DataFrame,
    current_df: pd.DataFrame,
    columns: Sequence[str],
    html_path: str | Path | None = None,
    *,
    method: str = "psi",
    categorical: Sequence[str] | None = None,
) -> dict[str, float]:
    """Return Evidently's drift score per column (PSI by default) and optionally save the HTML report.

    Columns are numeric when their dtype is numeric unless named in ``categorical``; typing them
    explicitly keeps Evidently from guessing (it would treat a low-cardinality string as text otherwise).
    """
    report_cls, dataset_cls, definition_cls, value_drift = _evidently()
    cat = set(categorical or ())
    numerical = [c for c in columns if c not in cat and pd.api.types.is_numeric_dtype(reference_df[c])]
    definition = definition_cls(
        numerical_columns=numerical, categorical_columns=[c for c in columns if c not in numerical]
    )
    report = report_cls([value_drift(column=c, method=method) for c in columns])
    snapshot = report.run(
        dataset_cls.from_pandas(current_df[list(columns)], data_definition=definition),
        dataset_cls.from_pandas(reference_df[list(columns)], data_definition=definition),
    )
    if html_path is not None:
        Path(html_path).parent.mkdir(parents=True, exist_ok=True)
        snapshot.save_html(str(html_path))
    return {m["config"]["column"]: float(m["value"]) for m in snapshot.dict()["metrics"]}
