"""Drift statistics against hand arithmetic, SciPy and scikit-learn on the same data."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from sklearn.metrics import f1_score

from gatekeeper.drift.stats import (
    EPS,
    MISSING,
    OTHER,
    UNSEEN,
    ReferenceProfile,
    build_reference,
    category_counts,
    compute_window,
    concept_delta_f1,
    kl_divergence,
    kl_status,
    label_chi2,
    prediction_ks,
    psi_categorical,
    psi_from_counts,
    psi_numeric,
    quantile_edges,
    smooth_proportions,
    text_psi_and_kl,
    tokenize,
    top_k_token_distribution,
)

LN2, LN3 = math.log(2), math.log(3)


# ----------------------------------------------------------------------------------------- numeric PSI


def test_psi_numeric_hand_computed() -> None:
    # Reference 1..10, 5 bins: inverted-CDF quintiles are 2, 4, 6, 8 -> buckets (-inf,2] (2,4] (4,6] (6,8]
    # (8,inf), 20% each. Current: {1,1,1,1} {3} {5} {7} {9,11,12} -> 40/10/10/10/30% (11 and 12 lie above
    # the reference range and land in the open top bucket).
    # PSI = (.4-.2)ln2 + 3*(.1-.2)ln(.5) + (.3-.2)ln(1.5) = .5 ln2 + .1 ln1.5 = 0.387120...
    res = psi_numeric(list(range(1, 11)), [1, 1, 1, 1, 3, 5, 7, 9, 11, 12], bins=5)
    assert res.bins == (2.0, 4.0, 6.0, 8.0)
    assert res.ref_pct == pytest.approx((0.2,) * 5)
    assert res.cur_pct == pytest.approx((0.4, 0.1, 0.1, 0.1, 0.3))
    assert res.value == pytest.approx(0.5 * LN2 + 0.1 * math.log(1.5), rel=1e-12)
    assert res.value == pytest.approx(0.3871201, abs=1e-7)


def test_psi_numeric_ties_merge_duplicate_edges() -> None:
    # Reference has six zeros: quintiles are 0, 0, 0, 2 -> edges {0, 2}, buckets (-inf,0] (0,2] (2,inf)
    # with 60/20/20%. Current {0,0} {1,1,1,1} {5,5,5,5} -> 20/40/40%.
    # PSI = (.2-.6)ln(1/3) + 2*(.4-.2)ln2 = .4 ln3 + .4 ln2 = .4 ln6
    ref = [0] * 6 + [1, 2, 3, 4]
    assert quantile_edges(ref, 5).tolist() == [0.0, 2.0]
    res = psi_numeric(ref, [0, 0, 1, 1, 1, 1, 5, 5, 5, 5], bins=5)
    assert res.ref_pct == pytest.approx((0.6, 0.2, 0.2))
    assert res.value == pytest.approx(0.4 * math.log(6), rel=1e-12)


def test_psi_numeric_values_below_reference_range_counted() -> None:
    res = psi_numeric([1, 2, 3, 4], [-100, -50, 1, 3], bins=2)
    # edge at 2: (-inf,2] holds -100, -50, 1 -> 75%; (2,inf) holds 3 -> 25%; reference 50/50
    # PSI = (.75-.5)ln(1.5) + (.25-.5)ln(.5) = .25 ln3
    assert res.cur_pct == pytest.approx((0.75, 0.25))
    assert res.value == pytest.approx(0.25 * LN3, rel=1e-12)


def test_psi_empty_bucket_uses_documented_smoothing() -> None:
    # Reference [1,2,3,4], 2 bins -> 50/50. Current all in the low bucket -> raw (1, 0).
    # Smoothing: floor at 1e-4 then renormalise -> cur = (1, 1e-4) / 1.0001.
    res = psi_numeric([1, 2, 3, 4], [1, 1, 1, 1], bins=2)
    c1, c2 = 1 / (1 + EPS), EPS / (1 + EPS)
    expected = (c1 - 0.5) * math.log(c1 / 0.5) + (c2 - 0.5) * math.log(c2 / 0.5)
    assert res.value == pytest.approx(expected, rel=1e-12)
    assert res.value == pytest.approx(4.6042, abs=1e-4)  # .5 ln2 + ~.5 ln(5000)


def test_buckets_empty_on_both_sides_are_dropped() -> None:
    # a (0, 0) bucket must not change the value
    assert psi_from_counts([5, 5, 0], [2, 8, 0]) == pytest.approx(psi_from_counts([5, 5], [2, 8]), rel=1e-15)


def test_identical_distributions_give_zero_psi() -> None:
    x = np.random.default_rng(1).normal(size=5000)
    assert psi_numeric(x, x).value == 0.0
    assert psi_categorical(list("aabbbc"), list("bcabab")).value == 0.0


def test_same_distribution_samples_give_small_psi() -> None:
    rng = np.random.default_rng(2)
    assert psi_numeric(rng.normal(size=100_000), rng.normal(size=100_000)).value < 0.002


@pytest.mark.parametrize("shift", [0.25, 0.5, 1.0])
def test_known_mean_shift_gives_expected_psi(shift: float) -> None:
    # N(0,1) reference deciles hold 10% each; under N(shift,1) decile i holds
    # Phi(z_i - shift) - Phi(z_{i-1} - shift). PSI of those exact proportions is the population value.
    z = sps.norm.ppf(np.arange(0, 11) / 10)
    cur = np.diff(sps.norm.cdf(z - shift))
    expected = float(np.sum((cur - 0.1) * np.log(cur / 0.1)))
    rng = np.random.default_rng(3)
    got = psi_numeric(rng.normal(size=200_000), rng.normal(shift, 1, size=200_000)).value
    assert got == pytest.approx(expected, rel=0.05)
    assert got < shift**2  # binning can only lose information: J-divergence of the normals is shift^2


def test_nan_is_ignored_and_empty_current_is_nan() -> None:
    assert psi_numeric([1, 2, 3, 4, np.nan], [1, 2, 3, 4, np.nan], bins=2).value == 0.0
    assert math.isnan(psi_numeric([1, 2, 3, 4], [], bins=2).value)


# ------------------------------------------------------------------------------------- categorical PSI


def test_psi_categorical_hand_computed_with_unseen_category() -> None:
    # reference a,a,a,b,b,c -> (1/2, 1/3, 1/6) and unseen 0; current a,a,b,b,c,d -> (1/3, 1/3, 1/6, 1/6)
    # The reference's unseen bucket is 0 -> floored to 1e-4, all reference proportions divided by 1.0001.
    res = psi_categorical(list("aaabbc"), list("aabbcd"))
    assert res.bins == ("a", "b", "c", UNSEEN)
    ref = np.array([1 / 2, 1 / 3, 1 / 6, EPS]) / (1 + EPS)
    cur = np.array([1 / 3, 1 / 3, 1 / 6, 1 / 6])
    assert res.value == pytest.approx(float(np.sum((cur - ref) * np.log(cur / ref))), rel=1e-12)
    # the unseen term dominates: (1/6 - ~1e-4) * ln(1/6 / ~1e-4) ~= 1.236
    assert res.value == pytest.approx(1.3032, abs=1e-3)


def test_psi_categorical_without_empty_buckets_is_textbook() -> None:
    # (0.4-0.5)ln(0.8) + (0.4-0.3)ln(4/3) + (0.2-0.2)ln1
    res = psi_categorical(["en"] * 5 + ["ja"] * 3 + ["mixed"] * 2, ["en"] * 4 + ["ja"] * 4 + ["mixed"] * 2)
    assert res.value == pytest.approx(-0.1 * math.log(0.8) + 0.1 * math.log(4 / 3), rel=1e-12)


def test_category_counts_missing_and_strings() -> None:
    assert category_counts(["a", None, np.nan, "a", 1, "1"]) == {"a": 2, MISSING: 2, "1": 2}


# ------------------------------------------------------------------------------------------------- KL


def test_kl_hand_computed_and_equal_to_scipy_entropy() -> None:
    # KL([.5,.5] || [.25,.75]) = .5 ln2 + .5 ln(2/3) = .5 ln(4/3)
    assert kl_divergence([0.5, 0.5], [0.25, 0.75]) == pytest.approx(0.5 * math.log(4 / 3), rel=1e-12)
    assert kl_divergence([50, 50], [1, 3]) == pytest.approx(0.5 * math.log(4 / 3), rel=1e-12)  # counts too
    rng = np.random.default_rng(4)
    for _ in range(20):
        p = rng.integers(0, 30, size=8).astype(float)
        q = rng.integers(0, 30, size=8).astype(float)
        p[0] = q[0] = 0  # an empty-on-both-sides bucket, dropped by the shared smoothing
        keep = (p > 0) | (q > 0)
        expected = sps.entropy(smooth_proportions(p[keep]), smooth_proportions(q[keep]))
        assert kl_divergence(p, q) == pytest.approx(expected, rel=1e-12)


def test_kl_zero_in_live_and_reference() -> None:
    p_s = np.array([1, EPS]) / (1 + EPS)
    assert kl_divergence([1, 0, 0], [0.5, 0.5, 0]) == pytest.approx(sps.entropy(p_s, [0.5, 0.5]), rel=1e-12)
    assert kl_divergence([1, 1], [1, 1]) == 0.0
    assert math.isnan(kl_divergence([0, 0], [1, 1]))


@pytest.mark.parametrize(
    ("value", "status"),
    [
        (0.0, "ok"),
        (0.0119, "ok"),
        (0.012, "monitor"),
        (0.02, "monitor"),  # alert is strictly above 0.02
        (0.0201, "alert"),
        (0.0279, "alert"),
        (0.028, "retrain"),
        (0.5, "retrain"),
        (math.nan, "unknown"),
    ],
)
def test_kl_status_thresholds(value: float, status: str) -> None:
    assert kl_status(value) == status


def test_kl_status_custom_thresholds() -> None:
    assert kl_status(0.05, monitor=0.1, alert=0.2, retrain=0.3) == "ok"
    assert kl_status(0.25, monitor=0.1, alert=0.2, retrain=0.3) == "alert"


# ------------------------------------------------------------------------------------------------ text


def test_tokenize_words_and_cjk_characters() -> None:
    assert tokenize("Where is ONE PIECE vol 3?") == ["where", "is", "one", "piece", "vol", "3"]
    assert tokenize("進撃の巨人を返品したい") == list("進撃の巨人を返品したい")  # one token per character
    assert tokenize("Naruto 全巻 please") == ["naruto", "全", "巻", "please"]
    assert tokenize("") == []


def test_top_k_token_distribution_counts_other_bucket() -> None:
    dist = top_k_token_distribution(["a b c a", "a b d"], k=2)
    assert dist == {"a": 3, "b": 2, OTHER: 2}
    assert top_k_token_distribution(["x a"], vocabulary=["a", "b"]) == {"a": 1, "b": 0, OTHER: 1}


def test_text_psi_and_kl() -> None:
    ref = ["where is my order", "track my order", "where is naruto", "注文はどこ"]
    same = text_psi_and_kl(ref, list(ref), k=5)
    assert same["length_psi"] == 0.0 and same["token_kl"] == 0.0 and same["token_psi"] == 0.0
    cur = ["refund please", "refund my order please", "返金してください"]
    out = text_psi_and_kl(ref, cur, k=5)
    vocab = [t for t in top_k_token_distribution(ref, 5) if t != OTHER]
    r = top_k_token_distribution(ref, 5)
    c = top_k_token_distribution(cur, vocabulary=vocab)
    keys = [*vocab, OTHER]
    expected = sps.entropy(smooth_proportions([c[k] for k in keys]), smooth_proportions([r[k] for k in keys]))
    assert out["token_kl"] == pytest.approx(expected, rel=1e-12)
    assert out["token_kl"] > 0.5 and out["token_psi"] > 0.2


# ----------------------------------------------------------------------------------------- chi-square


def test_label_chi2_hand_computed_and_equal_to_scipy() -> None:
    # expected = (50, 30, 20); chi2 = 10^2/50 + 10^2/30 + 0 = 16/3; 2 dof -> p = exp(-chi2 / 2)
    res = label_chi2({"a": 50, "b": 30, "c": 20}, {"a": 40, "b": 40, "c": 20})
    assert res.statistic == pytest.approx(16 / 3, rel=1e-12)
    assert res.p_value == pytest.approx(math.exp(-8 / 3), rel=1e-9)
    assert (res.dof, res.n) == (2, 100)
    ref = sps.chisquare([40, 40, 20], f_exp=[50, 30, 20])
    assert (res.statistic, res.p_value) == pytest.approx((ref.statistic, ref.pvalue), rel=1e-12)


def test_label_chi2_proportions_scale_with_current_n() -> None:
    res = label_chi2({"a": 5000, "b": 3000, "c": 2000}, {"a": 400, "b": 400, "c": 200})
    ref = sps.chisquare([400, 400, 200], f_exp=[500, 300, 200])
    assert res.statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert res.p_value == pytest.approx(ref.pvalue, rel=1e-9)


def test_label_chi2_new_class_gets_smoothed_expectation() -> None:
    # class d is absent from the reference: expected proportions are the smoothed reference (floor 1e-4)
    res = label_chi2({"a": 50, "b": 30, "c": 20}, {"a": 48, "b": 30, "c": 20, "d": 2})
    expected = np.array([0.5, 0.3, 0.2, EPS]) / (1 + EPS) * 100
    ref = sps.chisquare([48, 30, 20, 2], f_exp=expected)
    assert res.statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert res.dof == 3 and res.p_value < 1e-10


def test_label_chi2_stable_labels_do_not_reject() -> None:
    rng = np.random.default_rng(5)
    probs = [0.4, 0.3, 0.2, 0.1]
    ref = dict(zip("abcd", rng.multinomial(100_000, probs).tolist(), strict=True))
    cur = dict(zip("abcd", rng.multinomial(1000, probs).tolist(), strict=True))
    assert label_chi2(ref, cur).p_value > 0.01
    assert math.isnan(label_chi2(ref, {}).p_value)


# ------------------------------------------------------------------------------------------------- KS


def test_prediction_ks_equals_scipy() -> None:
    rng = np.random.default_rng(6)
    ref, cur = rng.beta(8, 2, size=3000), rng.beta(6, 2, size=1500)
    res = prediction_ks(ref, cur)
    ref_res = sps.ks_2samp(ref, cur)
    assert res.statistic == ref_res.statistic and res.p_value == ref_res.pvalue
    assert (res.n_ref, res.n_cur) == (3000, 1500)
    # hand case: two disjoint samples -> the empirical CDFs differ by 1
    assert prediction_ks([0.1, 0.2, 0.3], [0.7, 0.8, 0.9]).statistic == 1.0
    assert math.isnan(prediction_ks(ref, []).statistic)


# -------------------------------------------------------------------------------------------- concept


def test_concept_delta_f1_hand_computed_and_equal_to_sklearn() -> None:
    # a: tp1 fp0 fn1 -> F1 2/3; b: tp2 fp1 fn0 -> F1 4/5; macro = 11/15
    y_true, y_pred = ["a", "a", "b", "b"], ["a", "b", "b", "b"]
    res = concept_delta_f1(0.8, y_true, y_pred, ["a", "b"])
    assert res.current_f1 == pytest.approx(11 / 15, rel=1e-12)
    assert res.delta == pytest.approx(0.8 - 11 / 15, rel=1e-12)
    assert res.n == 4
    # a label absent from this window's truth and predictions is left out rather than scored 0
    assert concept_delta_f1(0.8, y_true, y_pred, ["a", "b", "c"]).current_f1 == pytest.approx(11 / 15)


def test_concept_delta_f1_matches_sklearn_on_random_data() -> None:
    rng = np.random.default_rng(7)
    labels = ["greet", "order", "refund", "escalation"]
    y_true = rng.choice(labels, size=500, p=[0.4, 0.3, 0.2, 0.1])
    y_pred = np.where(rng.random(500) < 0.8, y_true, rng.choice(labels, size=500))
    expected = f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=np.nan)
    res = concept_delta_f1(0.9, y_true.tolist(), y_pred.tolist(), labels)
    assert res.current_f1 == pytest.approx(expected, rel=1e-12)
    assert res.delta == pytest.approx(0.9 - expected, rel=1e-12)


# ------------------------------------------------------------------------------- reference and window

INTENTS = ["product_search", "order_status", "recommendation", "return_request", "escalation"]


def _logged(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    label = rng.choice(INTENTS, size=n, p=[0.4, 0.25, 0.2, 0.1, 0.05])
    pred = np.where(rng.random(n) < 0.85, label, rng.choice(INTENTS, size=n))
    texts = np.array(
        ["where is my order", "recommend me a manga like naruto", "返品したいです", "one piece 全巻"]
    )
    return pd.DataFrame(
        {
            "price": rng.lognormal(6 + shift, 0.5, size=n),
            "session_len": rng.poisson(4, size=n).astype(float),
            "lang": rng.choice(["en", "ja", "mixed"], size=n, p=[0.5 - shift / 4, 0.4, 0.1 + shift / 4]),
            "device": rng.choice(["mobile", "desktop"], size=n),
            "text": texts[rng.integers(0, 4, size=n)],
            "prediction": pred,
            "confidence": rng.beta(8 - 3 * shift, 2, size=n),
            "label": label,
        }
    )


def _profile(df: pd.DataFrame, **kw: object) -> ReferenceProfile:
    return build_reference(
        df,
        numeric_features=["price", "session_len"],
        categorical_features=["lang", "device"],
        text_feature="text",
        prediction_field="prediction",
        confidence_field="confidence",
        label_field="label",
        **kw,  # type: ignore[arg-type]
    )


def test_reference_profile_round_trips_through_json() -> None:
    ref = _logged(5000, 10)
    profile = _profile(ref, confidence_cap=1000)
    text = json.dumps(profile.to_dict(), allow_nan=False)  # strict JSON: storable in Postgres JSONB
    back = ReferenceProfile.from_dict(json.loads(text))
    assert back == profile
    assert len(profile.confidence_sample) == 1000
    assert _profile(ref, confidence_cap=1000).confidence_sample == profile.confidence_sample  # deterministic
    cur = _logged(2000, 11, shift=0.5)
    assert compute_window(back, cur).to_dict() == compute_window(profile, cur).to_dict()
    with pytest.raises(ValueError, match="format"):
        ReferenceProfile.from_dict({**profile.to_dict(), "format": 99})


def test_reference_profile_contents() -> None:
    ref = _logged(5000, 12)
    profile = _profile(ref)
    assert profile.classes == tuple(sorted(INTENTS))
    expected_f1 = f1_score(
        ref["label"], ref["prediction"], labels=sorted(INTENTS), average="macro", zero_division=np.nan
    )
    assert profile.reference_f1 == pytest.approx(expected_f1, rel=1e-12)
    assert profile.labels is not None and profile.labels.as_mapping() == ref["label"].value_counts().to_dict()
    assert list(profile.numeric["price"].edges) == quantile_edges(ref["price"], 10).tolist()
    assert len(profile.confidence_sample) == 5000


def test_compute_window_matches_the_pure_functions() -> None:
    ref, cur = _logged(5000, 13), _logged(3000, 14, shift=0.5)
    res = compute_window(_profile(ref), cur)
    assert res.n == 3000
    for f in ["price", "session_len"]:
        assert res.features[f].psi.value == pytest.approx(psi_numeric(ref[f], cur[f]).value, rel=1e-12)
    for f in ["lang", "device"]:
        assert res.features[f].psi.value == pytest.approx(psi_categorical(ref[f], cur[f]).value, rel=1e-12)
    text = text_psi_and_kl(ref["text"].tolist(), cur["text"].tolist())
    assert res.features["text.length"].psi.value == pytest.approx(text["length_psi"], rel=1e-12)
    assert res.features["text.tokens"].kl == pytest.approx(text["token_kl"], abs=1e-15)
    ks = sps.ks_2samp(ref["confidence"], cur["confidence"])
    assert res.prediction_ks is not None and res.prediction_ks.statistic == pytest.approx(ks.statistic)
    assert res.prediction_psi is not None
    assert res.prediction_psi.value == pytest.approx(
        psi_categorical(ref["prediction"], cur["prediction"]).value, rel=1e-12
    )
    assert res.features["price"].psi.value > 0.2  # shifted by half a log-sd
    # confidences from beta(6.5, 2) instead of beta(8, 2): clearly different, below the 0.15 alert
    assert 0.05 < res.prediction_ks.statistic < 0.15 and res.prediction_ks.p_value < 1e-6
    json.dumps(res.to_dict(), allow_nan=False)


def test_compute_window_kl_status_on_intent_mix() -> None:
    ref = _logged(20_000, 15)
    profile = _profile(ref)
    stable = compute_window(profile, _logged(20_000, 16))
    assert stable.kl_status == "ok" and stable.prediction_kl is not None and stable.prediction_kl < 0.012
    moved = _logged(20_000, 17)
    flip = moved.index[moved["prediction"] == "product_search"][:2500]
    moved.loc[flip, "prediction"] = "escalation"  # 12.5% of traffic moves into the rarest intent
    res = compute_window(profile, moved)
    pc = profile.predictions
    assert pc is not None
    ref_counts = [*pc.counts, 0]
    cur_counts = [int((moved["prediction"] == c).sum()) for c in pc.categories] + [0]
    assert res.prediction_kl is not None
    assert res.prediction_kl == pytest.approx(kl_divergence(cur_counts, ref_counts), rel=1e-12)
    assert res.kl_status == kl_status(res.prediction_kl) == "retrain"
    assert compute_window(profile, moved, kl_thresholds=(0.5, 1.0, 2.0)).kl_status == "ok"


def test_compute_window_accepts_mapping_columns_and_unseen_categories() -> None:
    profile = _profile(_logged(3000, 18))
    res = compute_window(profile, {"lang": np.array(["ko"] * 300), "price": np.full(300, 1e9)})
    assert res.n == 300 and set(res.features) == {"lang", "price"}
    assert res.features["lang"].psi.cur_pct[-1] == 1.0  # all in the unseen bucket
    assert res.features["price"].psi.cur_pct[-1] == 1.0  # all above the reference range
    assert res.prediction_ks is None and res.kl_status is None
    with pytest.raises(ValueError, match="length"):
        compute_window(profile, {"lang": ["en"], "price": [1.0, 2.0]})
