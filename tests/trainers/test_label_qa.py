"""Label QA: Cohen's kappa per language pool, reject < 0.65, flag < 0.75 (seed 002, 1.3-1.4)."""

from __future__ import annotations

import math

import pytest
from sklearn.metrics import cohen_kappa_score

from gatekeeper.errors import ValidationFailed
from tests.trainers.conftest import qa_rows
from trainers.common.label_qa import LabelQARejected, check_label_quality, require_label_quality


def table(**cells: int) -> list[tuple[str, str]]:
    """Annotator table as pairs: ``faq__faq=4`` means 4 rows where both said faq."""
    pairs: list[tuple[str, str]] = []
    for key, count in cells.items():
        a, b = key.split("__")
        pairs += [(a, b)] * count
    return pairs


# po = 0.9, pe = 0.5*0.5 + 0.5*0.5 = 0.5 -> kappa = (0.9 - 0.5) / 0.5 = 0.8
PASS = table(faq__faq=9, chitchat__chitchat=9, faq__chitchat=1, chitchat__faq=1)
# po = 0.85, pe = 0.5 -> kappa = 0.7
FLAG = table(faq__faq=17, chitchat__chitchat=17, faq__chitchat=3, chitchat__faq=3)
# po = 0.8, pe = 0.5 -> kappa = 0.6
REJECT = table(faq__faq=4, chitchat__chitchat=4, faq__chitchat=1, chitchat__faq=1)


def test_hand_computed_kappas_and_pass() -> None:
    result = check_label_quality(qa_rows("en", PASS) + qa_rows("ja", PASS))
    assert result.verdict == "pass"
    assert result.kappa("en") == pytest.approx(0.8)
    assert result.kappa("ja") == pytest.approx(0.8)
    assert result.pools["en"].n == 20
    assert result.reasons == []
    assert not result.flagged
    assert require_label_quality(result) is result


def test_kappa_equals_sklearn_on_a_multiclass_pool() -> None:
    pairs = table(
        faq__faq=30,
        order_tracking__order_tracking=25,
        escalation__escalation=5,
        faq__order_tracking=4,
        order_tracking__faq=2,
        escalation__faq=3,
        return_request__return_request=8,
        return_request__escalation=2,
    )
    result = check_label_quality(qa_rows("en", pairs) + qa_rows("ja", PASS))
    expected = cohen_kappa_score([a for a, _ in pairs], [b for _, b in pairs])
    assert result.kappa("en") == pytest.approx(expected, rel=1e-12)


def test_pools_are_judged_separately_and_flag_is_accepted() -> None:
    result = check_label_quality(qa_rows("en", PASS) + qa_rows("ja", FLAG))
    assert result.verdict == "flag"
    assert result.flagged
    assert result.pools["en"].verdict == "pass"
    assert result.pools["ja"].verdict == "flag"
    assert result.kappa("ja") == pytest.approx(0.7)
    assert result.reasons == ["JA pool kappa 0.70 < 0.75 (n=40): accepted, flagged"]
    assert require_label_quality(result) is result
    assert "en_kappa=0.800" in result.log_line() and "ja_kappa=0.700" in result.log_line()
    assert result.log_line().endswith("verdict=flag")


def test_one_bad_pool_rejects_the_batch_with_a_clear_message() -> None:
    result = check_label_quality(qa_rows("en", PASS) + qa_rows("ja", REJECT))
    assert result.verdict == "reject"
    assert result.kappa("ja") == pytest.approx(0.6)
    with pytest.raises(LabelQARejected) as err:
        require_label_quality(result)
    assert (
        str(err.value) == "label QA rejected: JA pool kappa 0.60 < 0.65 (n=10); re-annotate before training"
    )
    assert isinstance(err.value, ValidationFailed)
    assert err.value.fields["label_qa"]["pools"]["ja"]["kappa"] == pytest.approx(0.6)


def test_english_pool_cannot_vouch_for_japanese() -> None:
    # a near-perfect EN pool does not lift a poor JA pool: they are never pooled together
    pooled = check_label_quality(qa_rows("en", PASS * 10) + qa_rows("ja", REJECT))
    assert pooled.pools["ja"].verdict == "reject"
    assert pooled.verdict == "reject"


def test_thresholds_are_strictly_below() -> None:
    kappa = check_label_quality(qa_rows("en", REJECT) + qa_rows("ja", REJECT)).kappa("en")
    at_floor = check_label_quality(
        qa_rows("en", REJECT) + qa_rows("ja", PASS), reject_below=kappa, flag_below=0.75
    )
    assert at_floor.pools["en"].verdict == "flag"
    at_flag = check_label_quality(
        qa_rows("en", REJECT) + qa_rows("ja", PASS), reject_below=0.5, flag_below=kappa
    )
    assert at_flag.pools["en"].verdict == "pass"


def test_missing_pool_rejects() -> None:
    result = check_label_quality(qa_rows("en", PASS))
    assert result.verdict == "reject"
    assert result.pools["ja"].n == 0 and math.isnan(result.kappa("ja"))
    assert "JA pool has no double-labelled rows" in result.reasons
    # an English-only team can say so explicitly
    assert check_label_quality(qa_rows("en", PASS), required_pools=("en",)).verdict == "pass"


def test_single_label_pool_has_undefined_kappa_and_rejects() -> None:
    result = check_label_quality(qa_rows("en", PASS) + qa_rows("ja", table(faq__faq=12)))
    assert math.isnan(result.kappa("ja"))
    assert result.verdict == "reject"
    assert result.to_dict()["pools"]["ja"]["kappa"] is None
    assert "kappa undefined" in result.reasons[0]


def test_bad_rows_are_refused() -> None:
    with pytest.raises(ValueError, match="pool"):
        check_label_quality([{**qa_rows("en", PASS)[0], "pool": "fr"}])
    with pytest.raises(ValueError, match="two annotations"):
        check_label_quality([{**qa_rows("en", PASS)[0], "labels": [{"annotator": "x", "label": "faq"}]}])
    with pytest.raises(ValueError, match="must not exceed"):
        check_label_quality([], reject_below=0.8, flag_below=0.7)


def test_third_annotation_is_ignored() -> None:
    rows = qa_rows("en", PASS) + qa_rows("ja", PASS)
    rows[0]["labels"].append({"annotator": "en-a99", "label": "escalation"})
    assert check_label_quality(rows).kappa("en") == pytest.approx(0.8)
