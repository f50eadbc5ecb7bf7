"""The Markdown PR summary and the HTML report show an inconclusive verdict and its need N."""

from __future__ import annotations

import reports
from gatekeeper.policy.decide import decide, slice_support
from tests.policy.test_decide import POLICY, cmp, slice_row
from tests.policy.test_inconclusive import healthy
from tests.reports.test_render import document


def _inconclusive_document() -> dict:
    results = healthy()
    results["golden"]["comparisons"]["accuracy"] = cmp(0.905, 0.90)
    small = slice_row("lang=ja×cohort=new", {"lang": "ja", "cohort": "new"}, 0.9, 0.9, 1.0, n=6)
    results["slices"]["rows"].append(small)
    results["slices"] = slice_support(results["slices"], POLICY)
    results["replay"] |= {"changed_rate": 0.1, "rescued": 0, "broken": 0}
    decision = decide(results, POLICY)
    doc = document("classification", results["golden"], results["replay"])
    doc["results"] |= {"slices": results["slices"]}
    doc["decision"] = decision.to_dict()
    return doc


def test_markdown_and_html_show_the_verdict_and_what_would_decide_it() -> None:
    doc = _inconclusive_document()
    md = reports.render(doc, "md")
    assert md.startswith("## ❔ Gatekeeper INCONCLUSIVE: t v2")
    assert "promotion blocked until more evidence decides it" in md
    assert "### Inconclusive: what more evidence would decide" in md
    assert "- golden.vs_champion accuracy: need ≈ 6,000 more golden examples" in md
    assert "lang=ja×cohort=new: need ≈ 24 more examples" in md  # min_support 30 - n 6
    html = reports.render(doc, "html")
    assert "class='banner inconclusive'" in html and "INCONCLUSIVE:" in html
    assert "need ≈ 6,000 more golden examples" in html
    assert "insufficient data; need ≈ 24 more examples" in html
