"""The dashboard's slice table and checks table carry the inconclusive outcome and its need N."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from dashboards import data
from gatekeeper.policy.decide import decide, slice_support
from tests.policy.test_decide import POLICY, cmp, slice_row
from tests.policy.test_inconclusive import healthy


def test_slice_frame_and_checks_show_inconclusive_slices_with_their_need() -> None:
    results = healthy()
    results["golden"]["comparisons"]["accuracy"] = cmp(0.905, 0.90)
    results["slices"]["rows"][1] = slice_row("lang=ja", {"lang": "ja"}, 0.89, 0.895, 0.7)
    results["slices"]["rows"].append(
        slice_row("lang=ja×cohort=new", {"lang": "ja", "cohort": "new"}, 0.9, 0.9, 1.0, n=6)
    )
    results["slices"] = slice_support(results["slices"], POLICY)
    decision = decide(results, POLICY).to_dict()
    frame = data.slice_frame(results["slices"], decision).set_index("slice")
    assert frame.loc["lang=ja", "flag"] == "inconclusive"
    assert frame.loc["lang=ja", "need"] == "need ≈ 310 more examples"
    assert frame.loc["lang=ja×cohort=new", "need"] == "need ≈ 24 more examples"
    assert frame.loc["lang=en", "need"] == ""
    checks = data.reasons_table(decision["checks"]).set_index("check")
    accuracy = checks[checks["metric"] == "accuracy"].loc["golden.vs_champion"]
    assert (accuracy["outcome"], accuracy["need"]) == ("inconclusive", "need ≈ 6,000 more examples")


DECISION_VIEW = """
from dashboards import report_views
from gatekeeper.policy.decide import decide
from tests.policy.test_decide import POLICY, cmp
from tests.policy.test_inconclusive import healthy

results = healthy()
results["golden"]["comparisons"]["accuracy"] = cmp(0.905, 0.90)
report_views.decision(decide(results, POLICY).to_dict())
"""


def test_the_decision_view_shows_an_inconclusive_banner_with_the_need() -> None:
    at = AppTest.from_string(DECISION_VIEW, default_timeout=30).run()
    assert not at.exception
    banner = at.info[0].value
    assert banner.startswith("### Gate INCONCLUSIVE") and "need ≈ 6,000 more golden examples" in banner
    assert any("Inconclusive: not decided by this evidence (1)" in i.value for i in at.info)
