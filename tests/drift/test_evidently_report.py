"""Evidently's PSI against ours on the same data.

Evidently bins a numeric column (> 20 distinct values) into Sturges equal-width bins over the combined
reference+current range, ours into reference deciles: with the binning made equal the values agree to
rounding; with each its own binning they agree on every alert decision at the 0.2 threshold.
Categorical buckets are the same; only the empty-bucket fill differs (Evidently 1e-4 without
renormalising, ours floor-and-renormalise), which moves the value by well under 0.1%.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gatekeeper.drift.evidently_report import evidently_drift
from gatekeeper.drift.stats import psi_categorical, psi_from_counts, psi_numeric

# Evidently's import pulls in numpy.core aliases and litestar, which warn about their own internals.
pytestmark = [
    pytest.mark.filterwarnings("ignore:numpy.core is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:Call to deprecated function 'Dependency':DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:Use of deprecated class 'DependencyKwarg':DeprecationWarning"),
]


def _frames(seed: int, n: int = 3000) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ref = pd.DataFrame(
        {
            "conf": rng.beta(2, 2, n),
            "lang": rng.choice(["en", "ja", "mixed"], n, p=[0.5, 0.4, 0.1]),
            "tier": rng.choice(["head", "mid", "long"], n, p=[0.5, 0.3, 0.2]),
        }
    )
    cur = pd.DataFrame(
        {
            "conf": rng.beta(2.5, 2, n // 2),
            "lang": rng.choice(["en", "ja", "mixed"], n // 2, p=[0.4, 0.4, 0.2]),
            "tier": rng.choice(["head", "mid", "long", "new"], n // 2, p=[0.3, 0.3, 0.3, 0.1]),
        }
    )
    return ref, cur


def test_equal_binning_gives_equal_psi_and_html_is_saved(tmp_path: Path) -> None:
    ref, cur = _frames(30)
    html = tmp_path / "drift" / "report.html"
    ev = evidently_drift(ref, cur, ["conf", "lang", "tier"], html_path=html, categorical=["lang", "tier"])
    assert set(ev) == {"conf", "lang", "tier"}

    # numeric: rebuild Evidently's bins (Sturges, combined range) and feed the counts to our PSI
    edges = np.histogram_bin_edges(np.concatenate([ref["conf"], cur["conf"]]), bins="sturges")
    ref_counts, cur_counts = np.histogram(ref["conf"], edges)[0], np.histogram(cur["conf"], edges)[0]
    assert ref_counts.min() > 0 and cur_counts.min() > 0  # no empty bucket, so no smoothing on either side
    assert ev["conf"] == pytest.approx(psi_from_counts(ref_counts, cur_counts), rel=1e-9)

    # categorical, no empty bucket: identical buckets, identical value
    assert ev["lang"] == pytest.approx(psi_categorical(ref["lang"], cur["lang"]).value, rel=1e-9)
    # categorical with a category unseen in the reference: only the empty-bucket fill differs
    ours = psi_categorical(ref["tier"], cur["tier"]).value
    assert ev["tier"] == pytest.approx(ours, rel=1e-3) and ev["tier"] != ours

    text = html.read_text(encoding="utf-8")
    assert html.stat().st_size > 10_000 and "conf" in text and "tier" in text


@pytest.mark.parametrize(
    ("shift", "drifted"),
    [(0.0, False), (0.1, False), (1.0, True), (2.0, True)],
)
def test_own_binnings_agree_on_the_alert_decision(shift: float, drifted: bool) -> None:
    rng = np.random.default_rng(31)
    ref = pd.DataFrame({"price": rng.normal(0, 1, 4000)})
    cur = pd.DataFrame({"price": rng.normal(shift, 1, 2000)})
    theirs = evidently_drift(ref, cur, ["price"])["price"]
    ours = psi_numeric(ref["price"], cur["price"]).value
    assert (ours > 0.2) is drifted and (theirs > 0.2) is drifted
    if shift > 0:
        # both grow with the shift; decile bins resolve less of it than ~13 equal-width bins
        assert ours <= theirs * 1.1
