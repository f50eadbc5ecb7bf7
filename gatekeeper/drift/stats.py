"""Drift statistics for the drift hub: PSI, KL, chi-square, KS and concept delta-F1.

Pure functions over plain values (numpy/pandas/SciPy/scikit-learn), so one implementation serves every
target and can be checked against SciPy on hand data.

Conventions, applied identically everywhere (PSI, KL, chi-square expectations):

* **Smoothing.** Buckets that are empty in *both* distributions are dropped (they carry no evidence and
  would only dilute the others); each remaining distribution is normalised, every proportion is floored
  at ``EPS = 1e-4`` and the result is renormalised to sum to 1. A bucket seen on one side only therefore
  contributes a large but finite term, and KL stays a true divergence (>= 0).
* **PSI** = sum over buckets of ``(cur - ref) * ln(cur / ref)`` on smoothed proportions (symmetric).
* **KL** = ``KL(P_live || Q_ref) = sum P ln(P / Q)`` on smoothed proportions, which is
  ``scipy.stats.entropy(P, Q)`` on the smoothed vectors.
* **Numeric bins** come from reference quantiles (inverted-CDF, so edges are reference values), duplicate
  edges from ties are merged, bins are right-closed ``(e[i-1], e[i]]`` and both outer bins are open-ended,
  so current values outside the reference range are counted in the outer bins.
* **Categories** are compared as strings; missing values form their own ``__missing__`` category and
  current categories never seen in the reference share an ``__unseen__`` bucket.
* An empty side yields ``nan`` rather than a number that could look like "no drift".
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps
from sklearn.metrics import f1_score

EPS = 1e-4
UNSEEN = "__unseen__"
OTHER = "__other__"
MISSING = "__missing__"
PROFILE_FORMAT = 1

KL_MONITOR = 0.012
KL_ALERT = 0.02
KL_RETRAIN = 0.028


# --------------------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class PsiResult:
    value: float
    bins: tuple[Any, ...]  # numeric: interior edges (len = buckets - 1); categorical: bucket labels
    ref_pct: tuple[float, ...]  # raw (unsmoothed) proportions per bucket, for display
    cur_pct: tuple[float, ...]
    n_ref: int = 0
    n_cur: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": _json_float(self.value),
            "bins": list(self.bins),
            "ref_pct": list(self.ref_pct),
            "cur_pct": list(self.cur_pct),
            "n_ref": self.n_ref,
            "n_cur": self.n_cur,
        }


@dataclass(frozen=True)
class Chi2Result:
    statistic: float
    p_value: float
    dof: int
    n: int


@dataclass(frozen=True)
class KsResult:
    statistic: float
    p_value: float
    n_ref: int = 0
    n_cur: int = 0


@dataclass(frozen=True)
class ConceptResult:
    current_f1: float
    delta: float  # reference - current: positive means the model got worse
    n: int


# ------------------------------------------------------------------------------------ core arithmetic


def smooth_proportions(counts: Sequence[float] | np.ndarray, eps: float = EPS) -> np.ndarray:
    """Normalise, floor at ``eps`` and renormalise, so logs stay finite and the result is a distribution."""
    x = np.asarray(counts, dtype=float)
    total = x.sum()
    if total <= 0:
        raise ValueError("cannot smooth an empty distribution")
    p = np.maximum(x / total, eps)
    return p / p.sum()


def _paired(
    a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, eps: float
) -> tuple[np.ndarray, np.ndarray] | None:
    """Smooth two aligned count vectors the same way; None when either side is empty."""
    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"bucket vectors must be 1-D and aligned, got {x.shape} and {y.shape}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))) or (x < 0).any() or (y < 0).any():
        raise ValueError("bucket counts must be finite and non-negative")
    if x.sum() <= 0 or y.sum() <= 0:
        return None
    keep = (x > 0) | (y > 0)
    return smooth_proportions(x[keep], eps), smooth_proportions(y[keep], eps)


def psi_from_counts(
    ref_counts: Sequence[float] | np.ndarray, cur_counts: Sequence[float] | np.ndarray, eps: float = EPS
) -> float:
    """PSI of two aligned bucket vectors (counts or proportions); nan when a side is empty."""
    pair = _paired(ref_counts, cur_counts, eps)
    if pair is None:
        return math.nan
    ref, cur = pair
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def kl_divergence(
    p_counts_or_probs: Sequence[float] | np.ndarray,
    q_counts_or_probs: Sequence[float] | np.ndarray,
    eps: float = EPS,
) -> float:
    """KL(P || Q) with P the live and Q the reference distribution, smoothed as PSI is."""
    pair = _paired(p_counts_or_probs, q_counts_or_probs, eps)
    if pair is None:
        return math.nan
    p, q = pair
    return float(np.sum(p * np.log(p / q)))


def kl_status(
    value: float, monitor: float = KL_MONITOR, alert: float = KL_ALERT, retrain: float = KL_RETRAIN
) -> str:
    """Map a KL value to seed 003's ladder: ok < 0.012 <= monitor; alert > 0.02; retrain >= 0.028."""
    if value is None or not math.isfinite(value):
        return "unknown"
    if value >= retrain:
        return "retrain"
    if value > alert:
        return "alert"
    if value >= monitor:
        return "monitor"
    return "ok"


# ------------------------------------------------------------------------------------------- numeric


def _finite(values: Iterable[float] | np.ndarray) -> np.ndarray:
    x = np.asarray(values if isinstance(values, np.ndarray | pd.Series) else list(values), dtype=float)
    return x[np.isfinite(x)]


def quantile_edges(reference: Sequence[float] | np.ndarray, bins: int = 10) -> np.ndarray:
    """Interior bin edges at the reference's i/bins quantiles (inverted CDF), ties merged."""
    if bins < 2:
        raise ValueError("bins must be >= 2")
    x = np.sort(_finite(reference))
    n = len(x)
    if n == 0:
        raise ValueError("reference has no finite values")
    # inverted-CDF quantile i/bins is the ceil(i*n/bins)-th smallest value; integer arithmetic avoids
    # 0.6000000000000001-style float probabilities landing on the wrong order statistic.
    idx = np.array([-(-i * n // bins) - 1 for i in range(1, bins)])
    return np.unique(x[idx])


def bucket_counts(edges: Sequence[float] | np.ndarray, values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Count finite values per right-closed bucket ``(-inf, e0], (e0, e1], ..., (e_last, inf)``."""
    e = np.asarray(edges, dtype=float)
    x = _finite(values)
    return np.bincount(np.searchsorted(e, x, side="left"), minlength=len(e) + 1)


def _psi_result(bins: Sequence[Any], ref: np.ndarray, cur: np.ndarray, eps: float) -> PsiResult:
    n_ref, n_cur = int(ref.sum()), int(cur.sum())
    return PsiResult(
        value=psi_from_counts(ref, cur, eps),
        bins=tuple(bins),
        ref_pct=tuple((ref / n_ref).tolist()) if n_ref else tuple(0.0 for _ in ref),
        cur_pct=tuple((cur / n_cur).tolist()) if n_cur else tuple(0.0 for _ in cur),
        n_ref=n_ref,
        n_cur=n_cur,
    )


def psi_numeric(
    reference: Sequence[float] | np.ndarray,
    current: Sequence[float] | np.ndarray,
    bins: int = 10,
    eps: float = EPS,
) -> PsiResult:
    """PSI of a numeric feature on reference-quantile bins (non-finite values are ignored)."""
    edges = quantile_edges(reference, bins)
    return _psi_result(
        [float(e) for e in edges], bucket_counts(edges, reference), bucket_counts(edges, current), eps
    )


# --------------------------------------------------------------------------------------- categorical


def category_counts(values: Iterable[Any] | np.ndarray | pd.Series) -> dict[str, int]:
    """Count values as strings, with None/NaN as ``__missing__`` (pandas hashing: fast on 1M rows)."""
    s = (
        values
        if isinstance(values, pd.Series)
        else pd.Series(values if isinstance(values, np.ndarray) else list(values), dtype=object)
    )
    out: dict[str, int] = {}
    for key, count in s.value_counts(dropna=False, sort=False).items():
        label = MISSING if _is_missing(key) else str(key)
        out[label] = out.get(label, 0) + int(count)
    return out


def _is_missing(key: Any) -> bool:
    try:
        return key is None or bool(pd.isna(key))
    except (TypeError, ValueError):  # array-like keys are values, not missing markers
        return False


def align_counts(categories: Sequence[str], counts: Mapping[str, int]) -> np.ndarray:
    """Counts in ``categories`` order plus a final ``__unseen__`` bucket for everything else."""
    known = [int(counts.get(c, 0)) for c in categories]
    cats = set(categories)
    unseen = sum(int(v) for k, v in counts.items() if k not in cats)
    return np.array([*known, unseen], dtype=np.int64)


def ordered_categories(counts: Mapping[str, int]) -> tuple[str, ...]:
    """Reference categories by descending count, ties by name, so profiles are deterministic."""
    return tuple(sorted(counts, key=lambda c: (-counts[c], c)))


def psi_categorical(reference: Iterable[Any], current: Iterable[Any], eps: float = EPS) -> PsiResult:
    """PSI over the reference's categories plus an ``__unseen__`` bucket for new ones."""
    ref_counts = category_counts(reference)
    cats = ordered_categories(ref_counts)
    return _psi_result(
        [*cats, UNSEEN], align_counts(cats, ref_counts), align_counts(cats, category_counts(current)), eps
    )


# ---------------------------------------------------------------------------------------------- text

# One token per CJK character (kana, ideographs, half-width katakana, prolonged sound mark), words
# otherwise; underscores are not word characters, so ``__other__`` can never collide with a token.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f"
_TOKEN = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+")


def tokenize(text: str) -> list[str]:
    """Lowercase word tokens, one token per CJK character (no segmenter needed for Japanese)."""
    return _TOKEN.findall(text.lower()) if text else []


def top_k_token_distribution(
    texts: Iterable[str | None], k: int = 50, vocabulary: Sequence[str] | None = None
) -> dict[str, int]:
    """Token counts over ``vocabulary`` (default: the k most frequent here) plus an ``__other__`` bucket."""
    counter: Counter[str] = Counter()
    for text in texts:
        counter.update(tokenize(text or ""))
    if vocabulary is None:
        vocabulary = [t for t, _ in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:k]]
    out = {t: counter.get(t, 0) for t in vocabulary}
    out[OTHER] = sum(counter.values()) - sum(out.values())
    return out


def text_lengths(texts: Iterable[str | None]) -> np.ndarray:
    """Character lengths (language-neutral: a token count would undercount Japanese)."""
    return np.array([len(t or "") for t in texts], dtype=float)


def text_psi_and_kl(
    ref_texts: Sequence[str | None],
    cur_texts: Sequence[str | None],
    k: int = 50,
    bins: int = 10,
    eps: float = EPS,
) -> dict[str, float]:
    """Length PSI plus KL and PSI of the top-k token distribution (vocabulary from the reference)."""
    ref_tokens = top_k_token_distribution(ref_texts, k)
    vocab = [t for t in ref_tokens if t != OTHER]
    cur_tokens = top_k_token_distribution(cur_texts, vocabulary=vocab)
    keys = [*vocab, OTHER]
    ref_vec = [ref_tokens[t] for t in keys]
    cur_vec = [cur_tokens[t] for t in keys]
    return {
        "length_psi": psi_numeric(text_lengths(ref_texts), text_lengths(cur_texts), bins, eps).value,
        "token_kl": kl_divergence(cur_vec, ref_vec, eps),
        "token_psi": psi_from_counts(ref_vec, cur_vec, eps),
        "n_ref": float(len(ref_texts)),
        "n_cur": float(len(cur_texts)),
    }


# ------------------------------------------------------------------------------ label / prediction / concept


def label_chi2(
    reference_counts: Mapping[str, int], current_counts: Mapping[str, int], eps: float = EPS
) -> Chi2Result:
    """Chi-square goodness of fit of current class counts to the reference class proportions.

    Expected counts are the *smoothed* reference proportions times n, so a class absent from the reference
    gets a tiny but non-zero expectation (a new class shows up as a huge statistic instead of a division
    by zero); classes absent from both are dropped. With fewer than two classes there is nothing to test.
    """
    classes = list(dict.fromkeys([*reference_counts, *current_counts]))
    ref = np.array([reference_counts.get(c, 0) for c in classes], dtype=float)
    obs = np.array([current_counts.get(c, 0) for c in classes], dtype=float)
    n = int(obs.sum())
    if n == 0 or ref.sum() <= 0:
        return Chi2Result(math.nan, math.nan, 0, n)
    keep = (ref > 0) | (obs > 0)
    ref, obs = ref[keep], obs[keep]
    if len(obs) < 2:
        return Chi2Result(0.0, 1.0, 0, n)
    expected = smooth_proportions(ref, eps) * n
    res = sps.chisquare(obs, f_exp=expected)
    return Chi2Result(float(res.statistic), float(res.pvalue), len(obs) - 1, n)


def prediction_ks(ref_conf: Sequence[float] | np.ndarray, cur_conf: Sequence[float] | np.ndarray) -> KsResult:
    """Two-sample KS on prediction confidences (``scipy.stats.ks_2samp``); nan when a side is empty."""
    ref = _finite(ref_conf)
    cur = _finite(cur_conf)
    if len(ref) == 0 or len(cur) == 0:
        return KsResult(math.nan, math.nan, len(ref), len(cur))
    res = sps.ks_2samp(ref, cur)
    return KsResult(float(res.statistic), float(res.pvalue), len(ref), len(cur))


def macro_f1(y_true: Sequence[Any], y_pred: Sequence[Any], labels: Sequence[Any] | None = None) -> float:
    """Macro-F1; classes absent from both truth and prediction are left out instead of counting as 0.

    A daily window often lacks a rare class entirely; scoring it 0 would fake concept drift.
    """
    if len(y_true) == 0:
        return math.nan
    lab = list(labels) if labels is not None else None
    return float(f1_score(y_true, y_pred, labels=lab, average="macro", zero_division=np.nan))


def concept_delta_f1(
    reference_f1: float, y_true: Sequence[Any], y_pred: Sequence[Any], labels: Sequence[Any] | None = None
) -> ConceptResult:
    """Rolling labelled macro-F1 against the reference: delta = reference - current (> 0 is worse)."""
    if len(y_true) != len(y_pred):
        raise ValueError("y_true and y_pred differ in length")
    current = macro_f1(list(y_true), list(y_pred), labels)
    return ConceptResult(current, float(reference_f1) - current, len(y_true))


# -------------------------------------------------------------------------------- reference profile


@dataclass(frozen=True)
class NumericProfile:
    edges: tuple[float, ...]
    counts: tuple[int, ...]


@dataclass(frozen=True)
class CategoricalProfile:
    categories: tuple[str, ...]
    counts: tuple[int, ...]  # aligned with categories (the unseen bucket is implicit and 0)

    def as_mapping(self) -> dict[str, int]:
        return dict(zip(self.categories, self.counts, strict=True))


@dataclass(frozen=True)
class TextProfile:
    length: NumericProfile
    vocabulary: tuple[str, ...]
    token_counts: tuple[int, ...]  # aligned with vocabulary, then the __other__ bucket


@dataclass(frozen=True)
class ReferenceProfile:
    """Everything a window needs from the reference, precomputed and JSON-serialisable."""

    n: int
    bins: int
    eps: float
    numeric: dict[str, NumericProfile] = field(default_factory=dict)
    categorical: dict[str, CategoricalProfile] = field(default_factory=dict)
    text_feature: str | None = None
    text: TextProfile | None = None
    prediction_field: str | None = None
    confidence_field: str | None = None
    label_field: str | None = None
    predictions: CategoricalProfile | None = None
    labels: CategoricalProfile | None = None
    confidence_sample: tuple[float, ...] = ()
    classes: tuple[str, ...] = ()
    reference_f1: float | None = None

    def to_dict(self) -> dict[str, Any]:
        cat = _cat_to_dict
        return {
            "format": PROFILE_FORMAT,
            "n": self.n,
            "bins": self.bins,
            "eps": self.eps,
            "numeric": {k: _num_to_dict(v) for k, v in self.numeric.items()},
            "categorical": {k: cat(v) for k, v in self.categorical.items()},
            "text_feature": self.text_feature,
            "text": None
            if self.text is None
            else {
                "length": _num_to_dict(self.text.length),
                "vocabulary": list(self.text.vocabulary),
                "token_counts": list(self.text.token_counts),
            },
            "prediction_field": self.prediction_field,
            "confidence_field": self.confidence_field,
            "label_field": self.label_field,
            "predictions": None if self.predictions is None else cat(self.predictions),
            "labels": None if self.labels is None else cat(self.labels),
            "confidence_sample": list(self.confidence_sample),
            "classes": list(self.classes),
            "reference_f1": self.reference_f1,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ReferenceProfile:
        if d.get("format") != PROFILE_FORMAT:
            raise ValueError(f"unsupported reference profile format {d.get('format')!r}")
        text = d.get("text")
        return cls(
            n=int(d["n"]),
            bins=int(d["bins"]),
            eps=float(d["eps"]),
            numeric={k: _num_from_dict(v) for k, v in d["numeric"].items()},
            categorical={k: _cat_from_dict(v) for k, v in d["categorical"].items()},
            text_feature=d.get("text_feature"),
            text=None
            if text is None
            else TextProfile(
                length=_num_from_dict(text["length"]),
                vocabulary=tuple(text["vocabulary"]),
                token_counts=tuple(int(c) for c in text["token_counts"]),
            ),
            prediction_field=d.get("prediction_field"),
            confidence_field=d.get("confidence_field"),
            label_field=d.get("label_field"),
            predictions=None if d.get("predictions") is None else _cat_from_dict(d["predictions"]),
            labels=None if d.get("labels") is None else _cat_from_dict(d["labels"]),
            confidence_sample=tuple(float(x) for x in d.get("confidence_sample", ())),
            classes=tuple(d.get("classes", ())),
            reference_f1=None if d.get("reference_f1") is None else float(d["reference_f1"]),
        )


def _num_to_dict(p: NumericProfile) -> dict[str, Any]:
    return {"edges": list(p.edges), "counts": list(p.counts)}


def _num_from_dict(d: Mapping[str, Any]) -> NumericProfile:
    return NumericProfile(tuple(float(e) for e in d["edges"]), tuple(int(c) for c in d["counts"]))


def _cat_to_dict(p: CategoricalProfile) -> dict[str, Any]:
    return {"categories": list(p.categories), "counts": list(p.counts)}


def _cat_from_dict(d: Mapping[str, Any]) -> CategoricalProfile:
    return CategoricalProfile(tuple(d["categories"]), tuple(int(c) for c in d["counts"]))


def _json_float(x: float | None) -> float | None:
    """JSON (and Postgres JSONB) has no NaN: store it as null."""
    return None if x is None or not math.isfinite(x) else float(x)


def _frame(data: pd.DataFrame | Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]]) -> pd.DataFrame:
    return data if isinstance(data, pd.DataFrame) else pd.DataFrame(data)


def _numeric_profile(values: Any, bins: int) -> NumericProfile:
    edges = quantile_edges(values, bins)
    return NumericProfile(tuple(float(e) for e in edges), tuple(int(c) for c in bucket_counts(edges, values)))


def _categorical_profile(values: Any) -> CategoricalProfile:
    counts = category_counts(values)
    cats = ordered_categories(counts)
    return CategoricalProfile(cats, tuple(counts[c] for c in cats))


def _text_profile(texts: list[Any], bins: int, top_k: int) -> TextProfile:
    tokens = top_k_token_distribution(texts, top_k)
    vocab = tuple(t for t in tokens if t != OTHER)
    return TextProfile(
        _numeric_profile(text_lengths(texts), bins), vocab, tuple(tokens[t] for t in (*vocab, OTHER))
    )


def _confidence_sample(values: pd.Series, cap: int, seed: int) -> tuple[float, ...]:
    """A seeded uniform subsample of at most ``cap`` finite values, in their original order."""
    conf = _finite(values.to_numpy())
    if len(conf) > cap:
        idx = np.sort(np.random.default_rng(seed).choice(len(conf), cap, replace=False))
        conf = conf[idx]
    return tuple(conf.tolist())


def _reference_f1(both: pd.DataFrame, classes: tuple[str, ...]) -> float | None:
    """Macro-F1 of the rows with a label and a prediction (label column first), or None without any."""
    if not len(both):
        return None
    labels, predictions = both.columns
    return macro_f1(both[labels].astype(str).tolist(), both[predictions].astype(str).tolist(), classes)


def _feature_profiles(
    df: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str], bins: int
) -> dict[str, dict[str, Any]]:
    return {
        "numeric": {f: _numeric_profile(df[f].to_numpy(), bins) for f in numeric},
        "categorical": {f: _categorical_profile(df[f]) for f in categorical},
    }


def _outcome_profiles(
    df: pd.DataFrame, prediction_field: str | None, label_field: str | None
) -> tuple[CategoricalProfile | None, CategoricalProfile | None, tuple[str, ...], float | None]:
    """Prediction and label proportions, the classes either names, and the reference F1 when both exist."""
    predictions = _categorical_profile(df[prediction_field]) if prediction_field is not None else None
    labels = _categorical_profile(df[label_field]) if label_field is not None else None
    seen = {*(labels.categories if labels else ()), *(predictions.categories if predictions else ())}
    classes = tuple(sorted(seen - {MISSING}))
    ref_f1 = None
    if labels is not None and predictions is not None:
        ref_f1 = _reference_f1(df[[label_field, prediction_field]].dropna(), classes)
    return predictions, labels, classes, ref_f1 if ref_f1 is not None and math.isfinite(ref_f1) else None


def build_reference(
    data: pd.DataFrame | Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]],
    *,
    numeric_features: Sequence[str] = (),
    categorical_features: Sequence[str] = (),
    text_feature: str | None = None,
    prediction_field: str | None = None,
    confidence_field: str | None = None,
    label_field: str | None = None,
    bins: int = 10,
    top_k: int = 50,
    confidence_cap: int = 20_000,
    seed: int = 0,
    eps: float = EPS,
) -> ReferenceProfile:
    """Bins, proportions, token top-k, a seeded uniform confidence subsample (not a quantile sketch, so the
    KS p-value keeps its meaning) and the F1 of the rows with a label and a prediction."""
    df = _frame(data)
    text = None if text_feature is None else _text_profile(df[text_feature].tolist(), bins, top_k)
    sample = (
        () if confidence_field is None else _confidence_sample(df[confidence_field], confidence_cap, seed)
    )
    predictions, labels, classes, ref_f1 = _outcome_profiles(df, prediction_field, label_field)
    return ReferenceProfile(
        n=len(df),
        bins=bins,
        eps=eps,
        **_feature_profiles(df, numeric_features, categorical_features, bins),
        text_feature=text_feature,
        text=text,
        prediction_field=prediction_field,
        confidence_field=confidence_field,
        label_field=label_field,
        predictions=predictions,
        labels=labels,
        confidence_sample=sample,
        classes=classes,
        reference_f1=ref_f1,
    )


# ------------------------------------------------------------------------------------- window result


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    kind: str  # numeric | categorical | text_length | text_tokens
    psi: PsiResult
    kl: float | None = None  # text tokens only: KL(live || reference)

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "kind": self.kind,
            "psi": self.psi.to_dict(),
            "kl": _json_float(self.kl),
        }


@dataclass(frozen=True)
class WindowResult:
    """Input and prediction drift of one window of logged predictions, with sample sizes."""

    n: int
    features: dict[str, FeatureDrift]
    prediction_ks: KsResult | None = None
    prediction_psi: PsiResult | None = None
    prediction_kl: float | None = None
    kl_status: str | None = None

    @property
    def max_psi(self) -> float:
        values = [f.psi.value for f in self.features.values() if math.isfinite(f.psi.value)]
        return max(values) if values else math.nan

    def to_dict(self) -> dict[str, Any]:
        ks = self.prediction_ks
        return {
            "n": self.n,
            "features": {k: v.to_dict() for k, v in self.features.items()},
            "prediction_ks": None
            if ks is None
            else {
                "statistic": _json_float(ks.statistic),
                "p_value": _json_float(ks.p_value),
                "n_ref": ks.n_ref,
                "n_cur": ks.n_cur,
            },
            "prediction_psi": None if self.prediction_psi is None else self.prediction_psi.to_dict(),
            "prediction_kl": _json_float(self.prediction_kl),
            "kl_status": self.kl_status,
            "max_psi": _json_float(self.max_psi),
        }


def _window_categorical(
    ref: CategoricalProfile, values: Any, eps: float
) -> tuple[PsiResult, np.ndarray, np.ndarray]:
    ref_vec = np.array([*ref.counts, 0])
    cur_vec = align_counts(ref.categories, category_counts(values))
    return _psi_result([*ref.categories, UNSEEN], ref_vec, cur_vec, eps), ref_vec, cur_vec


def _n_rows(cols: pd.DataFrame | Mapping[str, Any]) -> int:
    if isinstance(cols, pd.DataFrame):
        return len(cols)
    lengths = {len(v) for v in cols.values()}
    if len(lengths) > 1:
        raise ValueError(f"window columns differ in length: {sorted(lengths)}")
    return lengths.pop() if lengths else 0


def _feature_drifts(
    profile: ReferenceProfile, cols: pd.DataFrame | Mapping[str, Any]
) -> dict[str, FeatureDrift]:
    """PSI of every profiled input feature present in the window (text: length PSI and token KL)."""
    eps = profile.eps
    features: dict[str, FeatureDrift] = {}
    for name, num in profile.numeric.items():
        if name in cols:
            cur = bucket_counts(num.edges, _column(cols, name))
            features[name] = FeatureDrift(
                name, "numeric", _psi_result(num.edges, np.array(num.counts), cur, eps)
            )
    for name, cat in profile.categorical.items():
        if name in cols:
            features[name] = FeatureDrift(
                name, "categorical", _window_categorical(cat, _column(cols, name), eps)[0]
            )
    if profile.text is not None and profile.text_feature is not None and profile.text_feature in cols:
        texts = list(_column(cols, profile.text_feature))
        features.update(_window_text(profile.text_feature, profile.text, texts, eps))
    return features


def compute_window(
    profile: ReferenceProfile,
    current: pd.DataFrame | Mapping[str, Sequence[Any] | np.ndarray],
    *,
    kl_thresholds: tuple[float, float, float] = (KL_MONITOR, KL_ALERT, KL_RETRAIN),
) -> WindowResult:
    """Every input-feature PSI (+ text KL) and the prediction KS / class PSI / KL status for one window.

    ``current`` holds the window's columns under the profile's field names; absent columns are skipped.
    ``kl_thresholds`` are (monitor, alert, retrain) for the predicted-intent KL status.
    Vectorised (searchsorted on stored edges, bincount, pandas hashing) so 1M rows take about a second.
    Label and concept drift need labelled rows and are computed separately (``label_chi2``,
    ``concept_delta_f1``).
    """
    eps = profile.eps
    cols = current
    features = _feature_drifts(profile, cols)
    ks = pred_psi = pred_kl = status = None
    if profile.confidence_field is not None and profile.confidence_field in cols:
        ks = prediction_ks(np.asarray(profile.confidence_sample), _column(cols, profile.confidence_field))
    if (
        profile.predictions is not None
        and profile.prediction_field is not None
        and profile.prediction_field in cols
    ):
        pred_psi, ref_vec, cur_vec = _window_categorical(
            profile.predictions, _column(cols, profile.prediction_field), eps
        )
        pred_kl = kl_divergence(cur_vec, ref_vec, eps)
        status = kl_status(pred_kl, *kl_thresholds)
    return WindowResult(_n_rows(cols), features, ks, pred_psi, pred_kl, status)


def _column(cols: pd.DataFrame | Mapping[str, Any], name: str) -> Any:
    col = cols[name]
    return col.to_numpy() if isinstance(col, pd.Series) and col.dtype != "category" else col


def _window_text(
    name: str, text: TextProfile, texts: list[str | None], eps: float
) -> dict[str, FeatureDrift]:
    length = bucket_counts(text.length.edges, text_lengths(texts))
    tokens = top_k_token_distribution(texts, vocabulary=text.vocabulary)
    keys = [*text.vocabulary, OTHER]
    cur_vec = np.array([tokens[t] for t in keys])
    ref_vec = np.array(text.token_counts)
    return {
        f"{name}.length": FeatureDrift(
            f"{name}.length",
            "text_length",
            _psi_result(text.length.edges, np.array(text.length.counts), length, eps),
        ),
        f"{name}.tokens": FeatureDrift(
            f"{name}.tokens",
            "text_tokens",
            _psi_result(keys, ref_vec, cur_vec, eps),
            kl_divergence(cur_vec, ref_vec, eps),
        ),
    }
