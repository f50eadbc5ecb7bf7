"""Statistics for the gate: paired bootstrap comparisons, single-model intervals, FDR control, correlation.

Pure functions, seeded through ``resampling`` (a generator per shard of resamples, seeded by the seed and
the shard's index): the same inputs and seed always give the same intervals, wherever the shards run, so
a stored gate decision can be reproduced exactly.

Why the bootstrap is fast. Resampling n examples with replacement gives each example a count, and the
count vector is Multinomial(n, 1/n, ..., 1/n). Every confusion-matrix metric depends on an example only
through its joint cell ``(y_true, pred_candidate, pred_champion)``, so summing the counts within each cell
gives Multinomial(n, cell frequencies): drawing those at most K^3 cell counts directly is the *same*
distribution as index resampling, at a cost independent of n. Per-class TP / predicted / true counts are
then matrix products of the (B x cells) count matrix with 0/1 indicator matrices. The same exact trick
applies to per-example scores that take few distinct values (e.g. 0/1 correctness); continuous scores
fall back to chunked index resampling.

Intervals are bootstrap percentile intervals. The p-value is a two-sided test of "delta = 0" by the
shifted bootstrap: the resampled deltas centred on the observed one approximate the null distribution
of the estimator, and p = (1 + #{b : |delta*_b - delta| >= |delta|}) / (B + 1), which is never below
1 / (B + 1) and is 1 when the observed delta is 0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats as sps
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

from gatekeeper.evaluation import resampling
from gatekeeper.evaluation.metrics.classification import encode_labels

__all__ = [
    "Comparison",
    "Interval",
    "benjamini_hochberg",
    "bh_adjusted_p_values",
    "bootstrap_ci",
    "bootstrap_mean_ci",
    "compare_classification",
    "correlation",
    "paired_bootstrap_mean",
    "samples_to_decide",
]

MacroOver = Literal["labels", "present"]

# Ties between a resampled and the observed delta are counted as "at least as extreme" despite rounding.
_TIE_EPS = 1e-12
_PER_CLASS = ("recall", "precision", "f1")
# Per model and resample block: (true positives, predicted counts), each (resamples x classes).
_Counts = tuple[NDArray[np.float64], NDArray[np.float64]]


@dataclass(frozen=True)
class Comparison:
    """Candidate vs champion on one metric over the same examples; ``delta`` = candidate - champion.

    ``ci_low``, ``ci_high`` and ``p_value`` are ``None`` when ``insufficient_data`` (n < min_support):
    such a comparison is reported, never judged.
    """

    metric: str
    candidate: float
    champion: float
    delta: float
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    n: int
    n_resamples: int
    ci_level: float = 0.95
    insufficient_data: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Interval:
    """One model's metric with its bootstrap percentile interval (no champion to compare with)."""

    metric: str
    value: float
    ci_low: float | None
    ci_high: float | None
    n: int
    n_resamples: int
    ci_level: float = 0.95
    insufficient_data: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------------------------------
# shared helpers


def _check_resampling(n_resamples: int, ci: float) -> None:
    if n_resamples < 1:
        raise ValueError("n_resamples must be at least 1")
    if not 0.0 < ci < 1.0:
        raise ValueError("ci must be in (0, 1)")


def _percentile_ci(boot: NDArray[np.float64], ci: float) -> tuple[float, float]:
    alpha = 1.0 - ci
    low, high = np.quantile(boot, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(low), float(high)


def _p_value(boot_deltas: NDArray[np.float64], observed: float) -> float:
    extreme = np.count_nonzero(np.abs(boot_deltas - observed) >= abs(observed) - _TIE_EPS)
    return float(min(1.0, (extreme + 1) / (boot_deltas.shape[0] + 1)))


def _compared(
    metric: str, c: float, h: float, deltas: NDArray[np.float64], n: int, n_resamples: int, ci: float
) -> Comparison:
    """A judged comparison from the bootstrap deltas: their percentile interval and p-value."""
    low, high = _percentile_ci(deltas, ci)
    return Comparison(metric, c, h, c - h, low, high, _p_value(deltas, c - h), n, n_resamples, ci)


def _interval(
    metric: str, value: float, resampled: NDArray[np.float64], n: int, n_resamples: int, ci: float
) -> Interval:
    """One model's metric with the percentile interval of its resampled values."""
    low, high = _percentile_ci(resampled, ci)
    return Interval(metric, value, low, high, n, n_resamples, ci)


def _one_hot(cells: NDArray[np.int64], k: int) -> NDArray[np.float64]:
    out = np.zeros((cells.shape[0], k), dtype=np.float64)
    out[np.arange(cells.shape[0]), cells] = 1.0
    return out


# --------------------------------------------------------------------------------------------------
# confusion-matrix metrics


def _parse_metric(name: str, labels: list[str]) -> tuple[str, int | None]:
    if name in ("accuracy", "macro_f1"):
        return name, None
    kind, sep, label = name.partition(":")
    if not sep or kind not in _PER_CLASS:
        raise ValueError(f"unknown metric {name!r}: use accuracy, macro_f1 or recall|precision|f1:<label>")
    if label not in labels:
        raise ValueError(f"metric {name!r} names a label not in labels")
    return kind, labels.index(label)


def _metric_names(metrics: Sequence[str], recall_of: Sequence[str]) -> list[str]:
    names = list(dict.fromkeys([*metrics, *(f"recall:{c}" for c in recall_of)]))
    if not names:
        raise ValueError("no metrics requested")
    return names


def _sklearn_value(
    name: str, yt: NDArray[np.int64], yp: NDArray[np.int64], labels: list[str], macro_over: MacroOver
) -> float:
    """Point estimates come from scikit-learn itself, so gate figures equal the reference exactly."""
    kind, cls = _parse_metric(name, labels)
    idx = list(range(len(labels)))
    if kind == "accuracy":
        return float(accuracy_score(yt, yp))
    if kind == "macro_f1":
        macro_labels = idx if macro_over == "labels" else None
        return float(f1_score(yt, yp, labels=macro_labels, average="macro", zero_division=0))
    p, r, f, _ = precision_recall_fscore_support(yt, yp, labels=[cls], average=None, zero_division=0)
    return float({"precision": p, "recall": r, "f1": f}[kind][0])


def _safe_div(num: NDArray[np.float64], den: NDArray[np.float64]) -> NDArray[np.float64]:
    # zero_division=0, as in the scikit-learn point estimates.
    ok = den > 0
    return np.where(ok, num / np.where(ok, den, 1.0), 0.0)


def _count_metric(
    name: str,
    labels: list[str],
    tp: NDArray[np.float64],
    pred: NDArray[np.float64],
    true: NDArray[np.float64],
    n: int,
    macro_over: MacroOver,
) -> NDArray[np.float64]:
    """Evaluate a metric for every resample from per-class counts (rows = resamples)."""
    kind, cls = _parse_metric(name, labels)
    if kind == "accuracy":
        return tp.sum(axis=1) / n
    if kind == "macro_f1":
        den = true + pred
        f1 = _safe_div(2.0 * tp, den)
        if macro_over == "labels":
            return f1.mean(axis=1)
        return f1.sum(axis=1) / (den > 0).sum(axis=1)  # labels seen in truth or predictions
    assert cls is not None
    if kind == "recall":
        return _safe_div(tp[:, cls], true[:, cls])
    if kind == "precision":
        return _safe_div(tp[:, cls], pred[:, cls])
    return _safe_div(2.0 * tp[:, cls], true[:, cls] + pred[:, cls])


def _joint_cells(
    yt: NDArray[np.int64], preds: list[NDArray[np.int64]], k: int
) -> tuple[NDArray[np.int64], list[NDArray[np.int64]], NDArray[np.int64]]:
    """Return the distinct (y, pred_1, ...) cells, decoded, with their example counts."""
    code = yt.copy()
    for p in preds:
        code = code * k + p
    cells, counts = np.unique(code, return_counts=True)
    decoded: list[NDArray[np.int64]] = []
    for _ in preds:
        decoded.append(cells % k)
        cells = cells // k
    return cells, decoded[::-1], counts


def _bootstrap_counts(
    yt: NDArray[np.int64],
    preds: list[NDArray[np.int64]],
    k: int,
    n_resamples: int,
    seed: int,
    evaluate: Callable[[list[_Counts], NDArray[np.float64]], None],
) -> None:
    """Draw resamples as cell counts and hand, per shard, each model's (tp, pred) and the true counts."""
    y_cells, pred_cells, counts = _joint_cells(yt, preds, k)
    y_ind = _one_hot(y_cells, k)
    matrices = [y_ind]
    for pc in pred_cells:
        p_ind = _one_hot(pc, k)
        matrices += [y_ind * p_ind, p_ind]
    for true, *per_model in resampling.multinomial_products(counts, matrices, n_resamples, seed):
        evaluate(list(zip(per_model[::2], per_model[1::2], strict=True)), true)


def _encode_pair(
    y_true: ArrayLike, y_pred: ArrayLike, labels: Sequence[str]
) -> tuple[list[str], NDArray[np.int64], NDArray[np.int64]]:
    labels = list(labels)
    yt = encode_labels(y_true, labels)
    yp = encode_labels(y_pred, labels)
    if yt.shape != yp.shape:
        raise ValueError(f"y_true has {yt.shape[0]} examples, predictions {yp.shape[0]}")
    if yt.shape[0] == 0:
        raise ValueError("the bootstrap needs at least one example")
    return labels, yt, yp


def _point_pair(
    metric: str,
    yt: NDArray[np.int64],
    yc: NDArray[np.int64],
    yh: NDArray[np.int64],
    labels: list[str],
    macro_over: MacroOver,
) -> tuple[float, float]:
    """The metric of the candidate and of the champion on the full sample."""
    candidate = _sklearn_value(metric, yt, yc, labels, macro_over)
    return candidate, _sklearn_value(metric, yt, yh, labels, macro_over)


def compare_classification(
    y_true: ArrayLike,
    pred_candidate: ArrayLike,
    pred_champion: ArrayLike,
    *,
    labels: Sequence[str],
    metrics: Sequence[str] = ("accuracy", "macro_f1"),
    recall_of: Sequence[str] = (),
    n_resamples: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
    macro_over: MacroOver = "labels",
    min_support: int = 0,
) -> dict[str, Comparison]:
    """Compare candidate and champion predictions on the same examples with a paired bootstrap.

    ``metrics`` are ``accuracy``, ``macro_f1`` or ``recall|precision|f1:<label>``; ``recall_of`` adds
    ``recall:<label>`` for each class. Both models are evaluated on the same resamples, so the interval
    is that of the paired difference. ``macro_over="labels"`` averages F1 over every label (as the
    classification report does); ``"present"`` over labels seen in truth or predictions (scikit-learn's
    default), which suits slices that hold only some classes. Per-class figures use zero_division=0,
    so a resample without the class scores 0 for both models.
    """
    _check_resampling(n_resamples, ci)
    labels, yt, yc = _encode_pair(y_true, pred_candidate, labels)
    _, _, yh = _encode_pair(y_true, pred_champion, labels)
    names = _metric_names(metrics, recall_of)
    n = int(yt.shape[0])
    points = {m: _point_pair(m, yt, yc, yh, labels, macro_over) for m in names}
    if n < min_support:
        return {
            m: Comparison(m, c, h, c - h, None, None, None, n, 0, ci, insufficient_data=True)
            for m, (c, h) in points.items()
        }
    cand, champ = _resampled_metrics(yt, [yc, yh], labels, names, macro_over, n_resamples, seed)
    return {m: _compared(m, c, h, cand[m] - champ[m], n, n_resamples, ci) for m, (c, h) in points.items()}


def _resampled_metrics(
    yt: NDArray[np.int64],
    preds: list[NDArray[np.int64]],
    labels: list[str],
    names: list[str],
    macro_over: MacroOver,
    n_resamples: int,
    seed: int,
) -> list[dict[str, NDArray[np.float64]]]:
    """Each model's metrics on each of the same resamples (one model: its interval; two: the paired
    bootstrap of their difference)."""
    n = int(yt.shape[0])
    values: list[dict[str, list[NDArray[np.float64]]]] = [{m: [] for m in names} for _ in preds]

    def evaluate(per_model: list[_Counts], true: NDArray[np.float64]) -> None:
        for out, (tp, pred) in zip(values, per_model, strict=True):
            for m in names:
                out[m].append(_count_metric(m, labels, tp, pred, true, n, macro_over))

    _bootstrap_counts(yt, preds, len(labels), n_resamples, seed, evaluate)
    return [{m: np.concatenate(v) for m, v in out.items()} for out in values]


def bootstrap_ci(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    labels: Sequence[str],
    metrics: Sequence[str] = ("accuracy", "macro_f1"),
    recall_of: Sequence[str] = (),
    n_resamples: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
    macro_over: MacroOver = "labels",
    min_support: int = 0,
) -> dict[str, Interval]:
    """Bootstrap percentile intervals for one model's metrics, for a first model judged on floors alone."""
    _check_resampling(n_resamples, ci)
    labels, yt, yp = _encode_pair(y_true, y_pred, labels)
    names = _metric_names(metrics, recall_of)
    n = int(yt.shape[0])
    points = {m: _sklearn_value(m, yt, yp, labels, macro_over) for m in names}
    if n < min_support:
        return {m: Interval(m, v, None, None, n, 0, ci, insufficient_data=True) for m, v in points.items()}
    (values,) = _resampled_metrics(yt, [yp], labels, names, macro_over, n_resamples, seed)
    return {m: _interval(m, v, values[m], n, n_resamples, ci) for m, v in points.items()}


# --------------------------------------------------------------------------------------------------
# per-example scores


def _scores(values: ArrayLike, name: str) -> NDArray[np.float64]:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return arr


def _resampled_means(columns: NDArray[np.float64], n_resamples: int, seed: int) -> NDArray[np.float64]:
    """Return the (B x columns) means of B resamples of the rows of ``columns`` (n x c)."""
    n = columns.shape[0]
    distinct, counts = np.unique(columns, axis=0, return_counts=True)
    if distinct.shape[0] * 4 <= n:
        # Few distinct rows (e.g. 0/1 correctness): exact multinomial over them, cost independent of n.
        shards = resampling.multinomial_products(counts, [distinct], n_resamples, seed)
        return np.concatenate([block for (block,) in shards]) / n
    return resampling.index_reductions(columns, n_resamples, seed, "mean")


def paired_bootstrap_mean(
    candidate_scores: ArrayLike,
    champion_scores: ArrayLike,
    *,
    metric: str = "mean",
    n_resamples: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
    min_support: int = 0,
) -> Comparison:
    """Compare the means of per-example scores (NDCG per query, correctness, cost) by paired bootstrap.

    Element i of both arrays must be the same example; the same resampled examples score both models.
    """
    _check_resampling(n_resamples, ci)
    c = _scores(candidate_scores, "candidate_scores")
    h = _scores(champion_scores, "champion_scores")
    if c.shape != h.shape:
        raise ValueError(f"candidate has {c.shape[0]} scores, champion {h.shape[0]}: they must be paired")
    n = int(c.shape[0])
    cm, hm = float(c.mean()), float(h.mean())
    if n < min_support:
        return Comparison(metric, cm, hm, cm - hm, None, None, None, n, 0, ci, insufficient_data=True)
    # Only the per-example difference needs resampling: mean(d*) is the resampled delta.
    boot = _resampled_means((c - h)[:, None], n_resamples, seed)[:, 0]
    return _compared(metric, cm, hm, boot, n, n_resamples, ci)


def bootstrap_mean_ci(
    scores: ArrayLike,
    *,
    metric: str = "mean",
    n_resamples: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
    min_support: int = 0,
) -> Interval:
    """Bootstrap percentile interval of the mean of one model's per-example scores."""
    _check_resampling(n_resamples, ci)
    s = _scores(scores, "scores")
    n = int(s.shape[0])
    value = float(s.mean())
    if n < min_support:
        return Interval(metric, value, None, None, n, 0, ci, insufficient_data=True)
    means = _resampled_means(s[:, None], n_resamples, seed)
    return _interval(metric, value, means[:, 0], n, n_resamples, ci)


# --------------------------------------------------------------------------------------------------
# sample size


def samples_to_decide(
    *, n: int, estimate: float, bound: float, ci_low: float | None, ci_high: float | None
) -> int | None:
    """The sample size at which the interval would no longer contain ``bound``, at the observed spread.

    The half-width of a CLT-regular interval shrinks as 1/sqrt(n): h(N) = h(n) * sqrt(n / N). With h the
    observed half-width on the side facing the bound and m = |estimate - bound| the observed margin,
    the comparison is decided once h(N) < m, at N = ceil(n * (h / m)^2) (this function returns N; never
    below n). It assumes the effect and the per-example spread stay what they are; ``None`` when the
    estimate sits on the bound (no sample size decides a tie) or no interval was computed.
    """
    if ci_low is None or ci_high is None or n < 1:
        return None
    margin = abs(estimate - bound)
    half = estimate - ci_low if estimate >= bound else ci_high - estimate
    if margin <= _TIE_EPS:
        return None
    if half <= margin:
        return n
    return int(np.ceil(n * (half / margin) ** 2 - 1e-9))  # 4800.0000001 is 4,800, not 4,801


# --------------------------------------------------------------------------------------------------
# multiple testing and correlation


def _p_array(p_values: Sequence[float]) -> NDArray[np.float64]:
    ps = np.asarray(p_values, dtype=np.float64).reshape(-1)
    if ps.size and (not np.all(np.isfinite(ps)) or ps.min() < 0 or ps.max() > 1):
        raise ValueError("p-values must be finite and within [0, 1]")
    return ps


def bh_adjusted_p_values(p_values: Sequence[float]) -> list[float]:
    """Return Benjamini-Hochberg adjusted p-values (scipy), in input order."""
    ps = _p_array(p_values)
    if ps.size == 0:
        return []
    return [float(v) for v in sps.false_discovery_control(ps, method="bh")]


def benjamini_hochberg(p_values: Sequence[float], alpha: float = 0.05) -> list[bool]:
    """Flag which hypotheses are rejected with the false discovery rate controlled at ``alpha``.

    Rejecting where the BH-adjusted p-value is <= alpha is the step-up rule: sort p ascending, find
    the largest k with p_(k) <= k * alpha / m, reject the k smallest.
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError("alpha must be in (0, 1)")
    return [a <= alpha for a in bh_adjusted_p_values(p_values)]


def correlation(x: ArrayLike, y: ArrayLike) -> dict[str, Any]:
    """Pearson and Spearman correlation (with p-values) of paired observations.

    With fewer than 3 pairs, or a constant series, correlation is undefined: every value is ``None``
    and ``reason`` says why, so a caller cannot mistake it for "no correlation".
    """
    xa = np.asarray(x, dtype=np.float64).reshape(-1)
    ya = np.asarray(y, dtype=np.float64).reshape(-1)
    if xa.shape != ya.shape:
        raise ValueError(f"x has {xa.shape[0]} values, y {ya.shape[0]}: they must be paired")
    if not (np.all(np.isfinite(xa)) and np.all(np.isfinite(ya))):
        raise ValueError("correlation inputs must be finite")
    n = int(xa.shape[0])
    reason = None
    if n < 3:
        reason = f"fewer than 3 pairs (n={n})"
    elif np.ptp(xa) == 0 or np.ptp(ya) == 0:
        reason = "a series is constant"
    if reason is not None:
        return {
            "pearson": None,
            "pearson_p": None,
            "spearman": None,
            "spearman_p": None,
            "n": n,
            "reason": reason,
        }
    pr = sps.pearsonr(xa, ya)
    sr = sps.spearmanr(xa, ya)
    return {
        "pearson": float(pr.statistic),
        "pearson_p": float(pr.pvalue),
        "spearman": float(sr.statistic),
        "spearman_p": float(sr.pvalue),
        "n": n,
        "reason": None,
    }
