"""The champion's reference and what one window looks like against it, as plain values.

Rows (evalset examples or logged predictions) become one column per drift feature: the slice fields,
the text, ``features.<name>`` for each entry of a row's ``features`` object, and the prediction,
confidence and label. The profile is built once per champion; every window is then compared with
``gatekeeper.drift.stats`` (PSI, KS, chi-square, KL, delta-F1). No database, no clock.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_fscore_support

from gatekeeper.drift import stats
from gatekeeper.drift.schemas import SLICE_FIELDS
from gatekeeper.drift.stats import ReferenceProfile

TEXT, PREDICTION, CONFIDENCE, LABEL = "text", "prediction", "confidence", "label"
FEATURE_PREFIX = "features."
MAX_FEATURE_CATEGORIES = 50  # a string feature with more distinct values (an id) is not a distribution
MIN_NUMERIC_VALUES = 10
SAMPLE_ROWS = 2000


@dataclass(frozen=True)
class WindowFigures:
    """One kind's figures for one window: ``value`` is what the threshold applies to."""

    n: int
    value: float | None
    figures: dict[str, Any] = field(default_factory=dict)


def num(x: Any) -> float | None:
    """JSON (and JSONB) has no NaN or infinity: store them as null."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


# ---------------------------------------------------------------------------------------------- frames


def feature_names(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every key seen in the rows' ``features`` objects, sorted."""
    names: set[str] = set()
    for row in rows:
        names.update((row.get("features") or {}).keys())
    return sorted(names)


def frame_from_rows(rows: Sequence[Mapping[str, Any]], features: Sequence[str] = ()) -> pd.DataFrame:
    """One column per drift field; ``features.<k>`` columns come from each row's ``features`` object."""
    cols: dict[str, list[Any]] = {}
    for name in (*SLICE_FIELDS, TEXT, PREDICTION, CONFIDENCE, LABEL):
        if any(name in row for row in rows):
            cols[name] = [row.get(name) for row in rows]
    for key in features:
        cols[FEATURE_PREFIX + key] = [(row.get("features") or {}).get(key) for row in rows]
    return pd.DataFrame(cols, index=pd.RangeIndex(len(rows)))


def _present(df: pd.DataFrame, name: str) -> bool:
    return name in df.columns and bool(df[name].notna().any())


def _numeric(values: pd.Series) -> bool:
    kept = values.dropna()
    return bool(len(kept) >= MIN_NUMERIC_VALUES) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in kept
    )


def _split_features(df: pd.DataFrame) -> tuple[list[str], list[str]]:
    numeric, categorical = [], []
    for name in (c for c in df.columns if c.startswith(FEATURE_PREFIX)):
        if _numeric(df[name]):
            numeric.append(name)
        elif df[name].dropna().map(str).nunique() <= MAX_FEATURE_CATEGORIES and _present(df, name):
            categorical.append(name)
    return numeric, categorical


def build_profile(df: pd.DataFrame, *, top_k: int = 50, bins: int = 10) -> ReferenceProfile:
    """The reference profile of a frame: whichever drift fields it has, each in its proper kind."""
    numeric, categorical = _split_features(df)
    frame = df.copy()
    for name in numeric:
        frame[name] = pd.to_numeric(frame[name], errors="coerce")
    return stats.build_reference(
        frame,
        numeric_features=numeric,
        categorical_features=[f for f in SLICE_FIELDS if _present(df, f)] + categorical,
        text_feature=TEXT if _present(df, TEXT) else None,
        prediction_field=PREDICTION if _present(df, PREDICTION) else None,
        confidence_field=CONFIDENCE if _present(df, CONFIDENCE) else None,
        label_field=LABEL if _present(df, LABEL) else None,
        bins=bins,
        top_k=top_k,
    )


def class_metrics(y_true: Sequence[Any], y_pred: Sequence[Any], classes: Sequence[str]) -> dict[str, Any]:
    """Precision, recall, F1 and support per class (null where a class has no example to judge)."""
    if not len(y_true) or not classes:
        return {}
    truth = [str(y) for y in y_true]
    pred = [str(p) for p in y_pred]
    p, r, f, s = precision_recall_fscore_support(truth, pred, labels=list(classes), zero_division=np.nan)
    return {
        c: {"precision": num(p[i]), "recall": num(r[i]), "f1": num(f[i]), "support": int(s[i])}
        for i, c in enumerate(classes)
    }


def reference_metrics(df: pd.DataFrame, profile: ReferenceProfile) -> dict[str, Any]:
    """Per-class metrics of the reference (the safety-slice baseline for triage)."""
    if not (_present(df, LABEL) and _present(df, PREDICTION)):
        return {}
    both = df[[LABEL, PREDICTION]].dropna()
    return class_metrics(both[LABEL].tolist(), both[PREDICTION].tolist(), profile.classes)


def sample(df: pd.DataFrame, cap: int = SAMPLE_ROWS, seed: int = 0) -> dict[str, list[Any]]:
    """A seeded subsample of the reference rows (columnar, JSON-safe) for the Evidently report."""
    picked = df if len(df) <= cap else df.sample(n=cap, random_state=seed).sort_index()
    cols = [c for c in picked.columns if c != LABEL]
    out: dict[str, list[Any]] = {}
    for c in cols:
        values = picked[c].tolist()
        out[c] = [None if isinstance(v, float) and not math.isfinite(v) else v for v in values]
    return out


# ---------------------------------------------------------------------------------------- window figures


def input_figures(profile: ReferenceProfile, df: pd.DataFrame) -> WindowFigures:
    """PSI of every input feature (and KL of the text's top-k tokens); the value is the largest PSI."""
    if df.empty:
        return WindowFigures(0, None, {"features": {}, "kl": {}, "max_feature": None})
    cols = {c: df[c] for c in _input_columns(profile) if c in df.columns}
    result = stats.compute_window(profile, pd.DataFrame(cols, index=df.index) if cols else {})
    psi = {name: num(f.psi.value) for name, f in result.features.items()}
    kl = {name: num(f.kl) for name, f in result.features.items() if f.kl is not None}
    finite = {k: v for k, v in psi.items() if v is not None}
    top = max(finite, key=lambda k: finite[k]) if finite else None
    return WindowFigures(
        len(df), finite[top] if top else None, {"features": psi, "kl": kl, "max_feature": top}
    )


def _input_columns(profile: ReferenceProfile) -> list[str]:
    return [*profile.numeric, *profile.categorical, *([profile.text_feature] if profile.text_feature else [])]


def prediction_figures(
    profile: ReferenceProfile, df: pd.DataFrame, kl_thresholds: tuple[float, float, float]
) -> WindowFigures:
    """KS of the confidences, PSI and KL of the predicted classes; the value is the KS statistic."""
    cols = {c: df[c] for c in (PREDICTION, CONFIDENCE) if c in df.columns and len(df)}
    if not cols:
        return WindowFigures(
            0, None, {"ks": None, "ks_p": None, "class_psi": None, "kl": None, "kl_status": None}
        )
    result = stats.compute_window(profile, cols, kl_thresholds=kl_thresholds)
    ks = result.prediction_ks
    statistic = num(ks.statistic) if ks else None
    figures: dict[str, Any] = {
        "ks": statistic,
        "ks_p": num(ks.p_value) if ks else None,
        "class_psi": num(result.prediction_psi.value) if result.prediction_psi else None,
        "kl": num(result.prediction_kl),
        "kl_status": result.kl_status,
    }
    return WindowFigures(len(df), statistic, figures)


def label_figures(profile: ReferenceProfile, labels: Sequence[Any]) -> WindowFigures:
    """Chi-square of the window's class counts against the reference proportions; the value is p."""
    counts = stats.category_counts(labels) if len(labels) else {}
    if profile.labels is None or not counts:
        return WindowFigures(len(labels), None, {"counts": counts})
    res = stats.label_chi2(profile.labels.as_mapping(), counts, profile.eps)
    figures = {"chi2": num(res.statistic), "p": num(res.p_value), "dof": res.dof, "counts": counts}
    return WindowFigures(len(labels), num(res.p_value), figures)


def concept_figures(profile: ReferenceProfile, y_true: Sequence[Any], y_pred: Sequence[Any]) -> WindowFigures:
    """Labelled macro-F1 against the reference F1 (value = reference - current) and per-class metrics."""
    if profile.reference_f1 is None or not len(y_true):
        return WindowFigures(len(y_true), None, {})
    truth, pred = [str(y) for y in y_true], [str(p) for p in y_pred]
    res = stats.concept_delta_f1(profile.reference_f1, truth, pred, list(profile.classes))
    figures = {
        "f1": num(res.current_f1),
        "reference_f1": profile.reference_f1,
        "delta": num(res.delta),
        "classes": class_metrics(truth, pred, profile.classes),
    }
    return WindowFigures(len(truth), num(res.delta), figures)
