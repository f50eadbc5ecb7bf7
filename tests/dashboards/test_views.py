"""Report sections that need no deployment: a task without dedicated views still renders its results."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

SCRIPT = """
from dashboards import report_views
results = {
    "task": "summarization",
    "golden": {"n": 40, "comparisons": {"ndcg@10": {"candidate": 0.61, "champion": 0.58, "delta": 0.03,
               "ci_low": 0.01, "ci_high": 0.05, "p_value": 0.004, "n": 40}}},
    "replay": {"ips": 0.12, "snips": 0.11},
}
report_views._mode(results, "golden", "none")
report_views.golden_common(results["golden"])
report_views._mode(results, "replay", "none")
report_views._mode(results, "adversarial", "No adversarial results.")
"""


def test_a_task_without_views_renders_generically() -> None:
    at = AppTest.from_string(SCRIPT, default_timeout=30).run()
    assert not at.exception
    table = at.get_by_key("ev_golden_table").dataframe[0].value
    assert list(table["metric"]) == ["ndcg@10"] and table.loc[0, "delta"] == 0.03
    assert at.json[0].value == '{"ips": 0.12, "snips": 0.11}'
    assert at.info[0].value == "No adversarial results."
