"""Paired bootstrap, intervals, BH and correlation: against scikit-learn/SciPy, references and simulations."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps
from sklearn.metrics import accuracy_score, f1_score, multilabel_confusion_matrix, recall_score

from gatekeeper.evaluation import stats
from gatekeeper.evaluation.stats import (
    benjamini_hochberg,
    bh_adjusted_p_values,
    bootstrap_ci,
    bootstrap_mean_ci,
    compare_classification,
    correlation,
    paired_bootstrap_mean,
)

FAST = settings(max_examples=20, deadline=None)
LABELS = ["product_discovery", "faq", "escalation", "return_request", "checkout_help"]


def _models(
    rng: np.random.Generator, n: int, k: int, p_champion: float, p_candidate: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Truth plus two correlated models: both share one uniform draw, so their errors are nested."""
    y = rng.integers(0, k, n)
    u = rng.random(n)

    def predict(p_correct: float) -> np.ndarray:
        wrong = (y + 1 + rng.integers(0, k - 1, n)) % k
        return np.where(u < p_correct, y, wrong)

    return y, predict(p_candidate), predict(p_champion)


@st.composite
def paired_data(draw: st.DrawFn) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    k = draw(st.integers(2, 5))
    n = draw(st.integers(1, 80))
    used = draw(st.lists(st.integers(0, k - 1), min_size=1, max_size=k, unique=True))
    arrays = [np.array(draw(st.lists(st.sampled_from(used), min_size=n, max_size=n))) for _ in range(3)]
    return LABELS[:k], arrays[0], arrays[1], arrays[2]


@FAST
@given(paired_data(), st.sampled_from(["labels", "present"]))
def test_point_estimates_equal_sklearn(data: tuple, macro_over: str) -> None:
    labels, yt, yc, yh = data
    idx = list(range(len(labels)))
    macro_labels = idx if macro_over == "labels" else None
    res = compare_classification(
        yt, yc, yh, labels=labels, recall_of=labels, n_resamples=20, macro_over=macro_over
    )
    for name, pred, side in (("candidate", yc, 0), ("champion", yh, 1)):
        values = {m: (c.candidate, c.champion)[side] for m, c in res.items()}
        assert values["accuracy"] == accuracy_score(yt, pred), name
        assert values["macro_f1"] == f1_score(yt, pred, labels=macro_labels, average="macro", zero_division=0)
        rec = recall_score(yt, pred, labels=idx, average=None, zero_division=0)
        for i, label in enumerate(labels):
            assert values[f"recall:{label}"] == rec[i]
    for c in res.values():
        assert c.delta == c.candidate - c.champion
        assert c.ci_low is not None and c.ci_high is not None
        assert c.ci_low <= c.ci_high


@FAST
@given(paired_data(), st.sampled_from(["labels", "present"]))
def test_count_formulas_equal_sklearn(data: tuple, macro_over: str) -> None:
    """The per-resample formulas, fed the observed counts, reproduce sklearn (what resamples rely on)."""
    labels, yt, yp, _ = data
    idx = list(range(len(labels)))
    mcm = multilabel_confusion_matrix(yt, yp, labels=idx)
    tp = mcm[:, 1, 1][None, :].astype(float)
    pred = (mcm[:, 1, 1] + mcm[:, 0, 1])[None, :].astype(float)
    true = (mcm[:, 1, 1] + mcm[:, 1, 0])[None, :].astype(float)
    n = len(yt)
    for metric in [
        "accuracy",
        "macro_f1",
        *(f"{k}:{c}" for k in ("recall", "precision", "f1") for c in labels),
    ]:
        fast = stats._count_metric(metric, labels, tp, pred, true, n, macro_over)[0]  # type: ignore[arg-type]
        assert fast == pytest.approx(stats._sklearn_value(metric, yt, yp, labels, macro_over), abs=1e-12)


def _reference_deltas(
    yt: np.ndarray, yc: np.ndarray, yh: np.ndarray, labels: list[str], b: int, seed: int
) -> dict[str, np.ndarray]:
    """Slow textbook paired bootstrap: resample example indices, score both models with sklearn."""
    rng = np.random.default_rng(seed)
    idx = list(range(len(labels)))
    esc = labels.index("escalation")
    out: dict[str, list[float]] = {
        "accuracy": [],
        "macro_f1": [],
        "macro_present": [],
        "recall:escalation": [],
    }
    for _ in range(b):
        s = rng.integers(0, len(yt), len(yt))
        t, c, h = yt[s], yc[s], yh[s]
        out["accuracy"].append(accuracy_score(t, c) - accuracy_score(t, h))
        out["macro_f1"].append(
            f1_score(t, c, labels=idx, average="macro", zero_division=0)
            - f1_score(t, h, labels=idx, average="macro", zero_division=0)
        )
        out["macro_present"].append(
            f1_score(t, c, average="macro", zero_division=0)
            - f1_score(t, h, average="macro", zero_division=0)
        )
        rc = recall_score(t, c, labels=[esc], average=None, zero_division=0)[0]
        rh = recall_score(t, h, labels=[esc], average=None, zero_division=0)[0]
        out["recall:escalation"].append(rc - rh)
    return {k: np.array(v) for k, v in out.items()}


def test_bootstrap_distribution_matches_index_resampling_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(7)
    yt, yc, yh = _models(rng, 3000, len(LABELS), p_champion=0.80, p_candidate=0.83)
    yh = np.where(rng.random(3000) < 0.05, yc, yh)  # some champion errors are not the candidate's
    ref = _reference_deltas(yt, yc, yh, LABELS, b=200, seed=1)

    captured: dict[str, np.ndarray] = {}
    real = stats._percentile_ci

    def spy(boot: np.ndarray, ci: float) -> tuple[float, float]:
        captured[f"#{len(captured)}"] = boot.copy()
        return real(boot, ci)

    monkeypatch.setattr(stats, "_percentile_ci", spy)
    metrics = ("accuracy", "macro_f1", "recall:escalation")
    compare_classification(yt, yc, yh, labels=LABELS, metrics=metrics, n_resamples=3000, seed=2)
    compare_classification(
        yt, yc, yh, labels=LABELS, metrics=("macro_f1",), n_resamples=3000, seed=3, macro_over="present"
    )
    fast = dict(zip([*metrics, "macro_present"], captured.values(), strict=True))
    for m, r in ref.items():
        f = fast[m]
        assert f.shape == (3000,)
        # Bootstrap SE of a std from 200 resamples is ~5%; of a mean, std / sqrt(200).
        assert f.std() == pytest.approx(r.std(), rel=0.15), m
        assert abs(f.mean() - r.mean()) < 0.25 * r.std(), m
        assert abs(np.quantile(f, 0.025) - np.quantile(r, 0.025)) < 0.5 * r.std(), m


def test_ci_covers_true_difference_in_simulation() -> None:
    # Candidate correct where u < 0.85, champion where u < 0.80: the true accuracy gain is exactly 0.05.
    covered = 0
    for rep in range(100):
        rng = np.random.default_rng(1000 + rep)
        yt, yc, yh = _models(rng, 1500, len(LABELS), p_champion=0.80, p_candidate=0.85)
        c = compare_classification(
            yt, yc, yh, labels=LABELS, metrics=("accuracy",), n_resamples=500, seed=rep
        )
        acc = c["accuracy"]
        covered += acc.ci_low <= 0.05 <= acc.ci_high
    assert 90 <= covered <= 99  # nominal 95%; 100/100 would mean intervals too wide


def test_mean_ci_covers_true_difference_in_simulation() -> None:
    covered = 0
    for rep in range(100):
        rng = np.random.default_rng(2000 + rep)
        base = rng.gamma(2.0, 0.2, 400)  # skewed per-query scores
        champion = base + rng.normal(0, 0.1, 400)
        candidate = base + 0.03 + rng.normal(0, 0.1, 400)  # true mean gain 0.03
        c = paired_bootstrap_mean(candidate, champion, n_resamples=500, seed=rep)
        covered += c.ci_low <= 0.03 <= c.ci_high
    assert 90 <= covered <= 99  # nominal 95%; 100/100 would mean intervals too wide


def test_p_values_under_the_null_are_not_too_small() -> None:
    # Both models equally good (errors independent): a valid test rejects at 5% about 5% of the time.
    p_values = []
    for rep in range(60):
        rng = np.random.default_rng(3000 + rep)
        y = rng.integers(0, 5, 800)
        yc = np.where(rng.random(800) < 0.8, y, (y + 1) % 5)
        yh = np.where(rng.random(800) < 0.8, y, (y + 2) % 5)
        c = compare_classification(y, yc, yh, labels=LABELS, metrics=("accuracy",), n_resamples=400, seed=rep)
        p_values.append(c["accuracy"].p_value)
    assert np.mean(np.array(p_values) < 0.05) <= 0.15
    assert np.median(p_values) > 0.2


def test_identical_models_give_zero_delta_and_p_one() -> None:
    rng = np.random.default_rng(0)
    yt, yc, _ = _models(rng, 2000, len(LABELS), 0.8, 0.8)
    res = compare_classification(yt, yc, yc.copy(), labels=LABELS, recall_of=["escalation"], n_resamples=300)
    for c in res.values():
        assert (c.delta, c.ci_low, c.ci_high, c.p_value) == (0.0, 0.0, 0.0, 1.0)
    scores = rng.random(500)
    m = paired_bootstrap_mean(scores, scores.copy(), n_resamples=300)
    assert (m.delta, m.ci_low, m.ci_high, m.p_value) == (0.0, 0.0, 0.0, 1.0)


def test_clearly_better_model_has_small_p_value() -> None:
    rng = np.random.default_rng(5)
    yt, yc, yh = _models(rng, 1000, len(LABELS), p_champion=0.75, p_candidate=0.95)
    res = compare_classification(yt, yc, yh, labels=LABELS, n_resamples=1000, seed=0)
    for c in res.values():
        assert c.delta > 0.15
        assert c.p_value < 0.01
        assert c.p_value >= 1 / 1001  # clamped, never 0
        assert c.ci_low > 0
    worse = compare_classification(yt, yh, yc, labels=LABELS, n_resamples=1000)["accuracy"]
    assert worse.delta < 0 and worse.ci_high < 0 and worse.p_value < 0.01


def test_seeded_and_deterministic() -> None:
    rng = np.random.default_rng(9)
    yt, yc, yh = _models(rng, 700, len(LABELS), 0.8, 0.82)
    kwargs = {"labels": LABELS, "n_resamples": 200, "recall_of": ["escalation"]}
    a = compare_classification(yt, yc, yh, seed=4, **kwargs)
    assert a == compare_classification(yt, yc, yh, seed=4, **kwargs)
    assert a["accuracy"].ci_low != compare_classification(yt, yc, yh, seed=5, **kwargs)["accuracy"].ci_low
    x, z = rng.random(300), rng.random(300)
    assert paired_bootstrap_mean(x, z, seed=1) == paired_bootstrap_mean(x, z, seed=1)


def test_insufficient_data_is_reported_not_judged() -> None:
    res = compare_classification(
        ["faq"] * 10, ["faq"] * 10, ["escalation"] * 10, labels=LABELS, min_support=30
    )
    acc = res["accuracy"]
    assert acc.insufficient_data and acc.delta == 1.0
    assert (acc.ci_low, acc.ci_high, acc.p_value) == (None, None, None)
    assert paired_bootstrap_mean([1.0] * 5, [0.0] * 5, min_support=30).insufficient_data
    assert bootstrap_ci(["faq"], ["faq"], labels=LABELS, min_support=2)["accuracy"].ci_low is None
    json.dumps(acc.to_dict())


def test_paired_mean_both_resampling_routes_match_reference() -> None:
    rng = np.random.default_rng(11)
    n = 2000
    correct_c = (rng.random(n) < 0.85).astype(float)  # few distinct rows -> multinomial route
    correct_h = np.where(rng.random(n) < 0.9, correct_c, 1 - correct_c)
    cont_c, cont_h = rng.gamma(2, 1, n), rng.gamma(2, 1, n)  # all distinct -> index route
    for c, h in ((correct_c, correct_h), (cont_c, cont_h)):
        res = paired_bootstrap_mean(c, h, n_resamples=2000, seed=0)
        assert res.candidate == c.mean() and res.champion == h.mean()
        ref_rng = np.random.default_rng(99)
        d = c - h
        ref = np.array([d[ref_rng.integers(0, n, n)].mean() for _ in range(2000)])
        width = res.ci_high - res.ci_low
        ref_width = np.quantile(ref, 0.975) - np.quantile(ref, 0.025)
        assert width == pytest.approx(ref_width, rel=0.12)
        assert (res.ci_low + res.ci_high) / 2 == pytest.approx(d.mean(), abs=0.15 * ref.std() + 1e-12)


def test_single_model_intervals() -> None:
    rng = np.random.default_rng(12)
    yt, yp, _ = _models(rng, 1500, len(LABELS), 0.8, 0.8)
    res = bootstrap_ci(yt, yp, labels=LABELS, recall_of=["escalation"], n_resamples=1000, seed=0)
    assert res["accuracy"].value == accuracy_score(yt, yp)
    assert res["macro_f1"].value == f1_score(yt, yp, average="macro", labels=list(range(5)), zero_division=0)
    acc = res["accuracy"]
    # Binomial SE of accuracy: sqrt(p (1 - p) / n); a 95% percentile interval is about +-1.96 SE.
    se = np.sqrt(acc.value * (1 - acc.value) / 1500)
    assert acc.ci_high - acc.ci_low == pytest.approx(2 * 1.96 * se, rel=0.12)
    for i in res.values():
        assert i.ci_low <= i.value <= i.ci_high
    m = bootstrap_mean_ci((yt == yp).astype(float), n_resamples=1000)
    assert m.value == acc.value
    assert m.ci_high - m.ci_low == pytest.approx(2 * 1.96 * se, rel=0.12)


def test_input_validation() -> None:
    with pytest.raises(ValueError, match="unknown metric"):
        compare_classification([0], [0], [0], labels=LABELS, metrics=("auc",))
    with pytest.raises(ValueError, match="not in labels"):
        compare_classification([0], [0], [0], labels=LABELS, recall_of=["refund"])
    with pytest.raises(ValueError):
        compare_classification([0, 1], [0], [0, 1], labels=LABELS)
    with pytest.raises(ValueError, match="paired"):
        paired_bootstrap_mean([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="finite"):
        paired_bootstrap_mean([np.nan], [1.0])
    with pytest.raises(ValueError):
        compare_classification([], [], [], labels=LABELS)


def test_benjamini_hochberg_hand_example() -> None:
    # m = 5, alpha = 0.05: thresholds k * alpha / m = 0.01, 0.02, 0.03, 0.04, 0.05.
    # Sorted p: 0.005 <= 0.01 yes, 0.010 <= 0.02 yes, 0.029 <= 0.03 yes, 0.045 <= 0.04 no, 0.20 no.
    # Largest k passing is 3, so the three smallest are rejected.
    p = [0.010, 0.045, 0.029, 0.005, 0.20]
    assert benjamini_hochberg(p, alpha=0.05) == [True, False, True, True, False]
    # Step-up, not step-down: p_(1) = 0.02 > 1 * 0.05 / 3, yet p_(3) = 0.04 <= 0.05 rejects all three.
    # Adjusted: m * p / rank = 0.06, 0.0375, 0.04 -> running minimum from the top: 0.0375, 0.0375, 0.04.
    assert benjamini_hochberg([0.02, 0.025, 0.04]) == [True, True, True]
    np.testing.assert_allclose(bh_adjusted_p_values([0.02, 0.025, 0.04]), [0.0375, 0.0375, 0.04])
    assert benjamini_hochberg([]) == []
    with pytest.raises(ValueError):
        benjamini_hochberg([1.2])


@FAST
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=30), st.sampled_from([0.01, 0.05, 0.1]))
def test_benjamini_hochberg_equals_step_up_rule(p: list[float], alpha: float) -> None:
    ps = np.array(p)
    m = len(ps)
    order = np.argsort(ps)
    passing = [k for k in range(1, m + 1) if ps[order[k - 1]] <= k * alpha / m * (1 + 1e-9)]
    expected = np.zeros(m, dtype=bool)
    if passing:
        expected[order[: max(passing)]] = True
    got = benjamini_hochberg(p, alpha)
    # Only hypotheses sitting on a threshold (to rounding) may differ.
    on_edge = np.isclose(ps * m / (np.argsort(order) + 1), alpha, rtol=1e-6)
    assert all(g == e or edge for g, e, edge in zip(got, expected, on_edge, strict=True))


def test_correlation_equals_scipy_and_handles_small_n() -> None:
    rng = np.random.default_rng(4)
    x = rng.random(6)
    y = x + rng.normal(0, 0.2, 6)
    out = correlation(x, y)
    pr, sr = sps.pearsonr(x, y), sps.spearmanr(x, y)
    assert out == {
        "pearson": pr.statistic,
        "pearson_p": pr.pvalue,
        "spearman": sr.statistic,
        "spearman_p": sr.pvalue,
        "n": 6,
        "reason": None,
    }
    assert correlation([0.9, 0.8, 0.7], [0.1, 0.2, 0.3])["pearson"] == pytest.approx(-1.0)
    for short in ([], [0.9], [0.9, 0.8]):
        small = correlation(short, short)
        assert small["pearson"] is None and small["spearman"] is None and small["pearson_p"] is None
        assert small["n"] == len(short) and "fewer than 3" in small["reason"]
    assert correlation([1, 1, 1], [1, 2, 3])["reason"] == "a series is constant"
    with pytest.raises(ValueError):
        correlation([1, 2, 3], [1, 2])
