"""Ranking and generation report views. Ranking: the reranker evaluation of the seeded deployment (scores
submitted for a cut of the shipped evalset), every figure compared with the API's results. Generation:
results assembled by the gate's own functions on shipped generator examples (tool calls and safety are
really checked), rendered with an in-memory examples endpoint."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from evalsets.manifest import read_jsonl
from gatekeeper.evaluation import stats
from gatekeeper.evaluation.metrics.generation import check_safety, generation_report
from gatekeeper.evaluation.metrics.ranking import rank_by_score
from gatekeeper.evaluation.modes.adversarial import adversarial_table
from gatekeeper.evaluation.tasks import generation as generation_gate
from tests.conftest import ROOT
from tests.dashboards.conftest import Deployment
from tests.dashboards.test_pages import frame, metric, open_app, texts

INVENTED = "Your order arrives on 2026-12-03, tracking number 1Z999AA10123456784."


# --- ranking, end to end -------------------------------------------------------------------------


@pytest.mark.slow
def test_ranking_report(deployment: Deployment) -> None:
    api = deployment.client()
    eid = deployment.ids["reranker_candidate_eval"]
    ev = api.get(f"/v1/evaluations/{eid}")
    results, golden = ev["results"], ev["results"]["golden"]
    at = open_app(deployment, "evaluation", evaluation=eid)
    assert at.selectbox(key="ev_target").value == "reranker"
    assert "Gate FAIL" in texts(at, "error")  # the weak lang=mixed slice is safety-critical
    for label, key in (("NDCG@10", "ndcg@10"), ("MRR", "mrr"), ("Recall@5", "recall@5")):
        assert metric(at, label) == f"{golden['candidate'][key]:.4f}"
        shown = next(m for m in at.metric if m.label == label)
        assert shown.delta == f"{golden['comparisons'][key]['delta']:+.4f} vs champion"
    cutoffs = frame(at, "ev_rank_metrics").set_index("metric")
    for name in ("ndcg@1", "ndcg@5", "ndcg@10", "mrr", "recall@1", "recall@10"):
        assert cutoffs.loc[name, "candidate"] == pytest.approx(golden["candidate"][name])
        assert cutoffs.loc[name, "champion"] == pytest.approx(golden["champion"][name])
    # The worst queries: per-query NDCG@10 of both models from the stored per-query arrays.
    cand = dict(
        zip(golden["candidate"]["per_query"]["ids"], golden["candidate"]["per_query"]["ndcg@10"], strict=True)
    )
    champ = dict(
        zip(golden["champion"]["per_query"]["ids"], golden["champion"]["per_query"]["ndcg@10"], strict=True)
    )
    deltas = sorted((cand[q] - champ[q], q) for q in cand)
    worst = frame(at, "ev_rank_worst")
    assert list(worst["id"]) == [q for _, q in deltas[:10]]
    assert list(worst["delta"]) == pytest.approx([d for d, _ in deltas[:10]])
    comparisons = frame(at, "ev_golden_table").set_index("metric")
    assert comparisons.loc["ndcg@10", "ci low"] == pytest.approx(golden["comparisons"]["ndcg@10"]["ci_low"])
    slices = frame(at, "ev_slices").set_index("slice")
    assert slices.loc["lang=mixed", "flag"] == "hard"
    # Adversarial: error is 1 - NDCG@10, flips are top results that changed.
    adv = frame(at, "ev_adv_types").set_index("perturbation")
    assert adv.loc["overall", "candidate error"] == pytest.approx(
        results["adversarial"]["overall"]["candidate_error"]
    )
    flips = frame(at, "ev_adv_flips")
    assert list(flips.columns) == ["perturbation", "query", "source query", "candidate top now", "id"]
    assert list(flips["id"]) == [f["id"] for f in results["adversarial"]["flips"]]
    # Replay: IPS and SNIPS against the logging policy's CTR, with their intervals.
    cf = results["replay"]["counterfactual"]
    assert metric(at, "CTR, SNIPS") == f"{cf['snips']['value']:.4f}"
    assert metric(at, "Logging CTR") == f"{cf['logging_ctr']['value']:.4f}"
    assert metric(at, "Matched impressions") == f"{cf['ips']['matched']} of {cf['ips']['n']}"
    ips = frame(at, "ev_ips").set_index("estimate")
    assert ips.loc["candidate (IPS)", "ci low"] == pytest.approx(cf["ips"]["ci"][0])
    # Examples: each model's top product and NDCG@10 per query, recomputed from the stored scores.
    examples = frame(at, "ex_table")
    served = api.get(f"/v1/evaluations/{eid}/examples", role="golden")
    assert list(examples["id"]) == [i["id"] for i in served["items"]]
    for row, item in zip(examples.to_dict("records"), served["items"], strict=True):
        assert row["candidate top"] == rank_by_score(item["candidate"]["prediction"])[0]
        assert row["champion top"] == rank_by_score(item["champion"]["prediction"])[0]
        assert row["candidate ndcg@10"] == pytest.approx(cand[item["id"]])
        assert row["champion ndcg@10"] == pytest.approx(champ[item["id"]])
    at.selectbox(key="ex_role").set_value("replay").run()
    assert {"logged top", "clicked"} <= set(frame(at, "ex_table").columns)


# --- generation, from the gate's own functions ---------------------------------------------------


def _rows() -> list[dict[str, Any]]:
    """Shipped generator examples: two with an order-safety rule, three plain ones that call a tool and
    three that answer from context."""
    shipped = read_jsonl(ROOT / "evalsets" / "generator" / "golden.jsonl")
    ordered = [r for r in shipped if (r.get("safety") or {}).get("no_invented_order_details")][:2]
    plain = [r for r in shipped if not r.get("safety")]
    calling = [r for r in plain if r.get("expected_tool_call")][:3]
    return ordered + calling + [r for r in plain if not r.get("expected_tool_call")][:3]


def _answer(row: Mapping[str, Any], invent: bool) -> dict[str, Any]:
    call = row.get("expected_tool_call")
    if invent and (row.get("safety") or {}).get("no_invented_order_details"):
        return {"output": INVENTED, "tool_calls": []}
    calls = [{"name": call["name"], "arguments": call["arguments"]}] if call else []
    return {"output": row["reference"], "tool_calls": calls}


def generation_results() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(results as the generation gate stores them, the examples endpoint's items for the golden set)."""
    rows = _rows()
    ids = [r["id"] for r in rows]
    outputs = {"candidate": [_answer(r, True) for r in rows], "champion": [_answer(r, False) for r in rows]}
    reports = {}
    for model, answers in outputs.items():
        report = generation_report(
            rows,
            [{"id": i, **a} for i, a in zip(ids, answers, strict=True)],
            bertscore=False,
            ragas=False,
            promptfoo=False,
        )
        # BERTScore and promptfoo need a model and node; their per-example arrays stand in as numbers.
        report["per_example"]["bertscore_f1"] = [0.9 if a["output"] == INVENTED else 1.0 for a in answers]
        report["per_example"]["promptfoo_pass"] = [0.0 if a["output"] == INVENTED else 1.0 for a in answers]
        report["per_example"]["rouge_l"] = [0.5 if a["output"] == INVENTED else 1.0 for a in answers]
        reports[model] = report
    golden = {
        "n": len(ids),
        "candidate": generation_gate.summary(reports["candidate"], ids),
        "champion": generation_gate.summary(reports["champion"], ids),
        "latency": None,
        "promptfoo": {"stats": {"successes": 20, "failures": 4, "errors": 0}},
        "comparisons": generation_gate._paired(
            reports["candidate"], reports["champion"], ids, n_resamples=200, seed=0
        ),
    }
    ok = {m: generation_gate.ok_column(reports[m], ids) for m in reports}
    adversarial = adversarial_table(
        [{"perturbation": "typo"} for _ in ids],
        1.0 - ok["candidate"],
        1.0 - ok["champion"],
        1.0 - ok["candidate"],  # the perturbed question fails where the clean one passed
        np.zeros(len(ids)),
        describe=[
            {
                "id": i,
                "perturbation": "typo",
                "text": r["question"],
                "source_id": i,
                "candidate": bool(passes),
            }
            for i, r, passes in zip(ids, rows, ok["candidate"], strict=True)
        ],
        n_resamples=200,
        seed=1,
    )
    quality = stats.paired_bootstrap_mean(
        ok["candidate"], ok["champion"], metric="answer_pass", n_resamples=200
    )
    cost = stats.paired_bootstrap_mean(
        np.full(len(ids), 2e-4), np.full(len(ids), 1.8e-4), metric="cost_per_session", n_resamples=200
    )
    replay = {
        "n_sessions": len(ids),
        "n_labelled": len(ids),
        "quality": quality.to_dict(),
        "cost": cost.to_dict(),
        "cost_change_relative": cost.delta / cost.champion,
        "changed_rate": float(np.mean(ok["candidate"] != ok["champion"])),
        "rescued": 0,
        "broken": int(np.sum((ok["champion"] == 1) & (ok["candidate"] == 0))),
    }
    results = {"task": "generation", "golden": golden, "adversarial": adversarial, "replay": replay}
    items = [
        {
            **r,
            "candidate": {"prediction": c, "confidence": None, "topk": []},
            "champion": {"prediction": h, "confidence": None, "topk": []},
        }
        for r, c, h in zip(rows, outputs["candidate"], outputs["champion"], strict=True)
    ]
    return results, items


class ExamplesApi:
    """The examples endpoint over a list of items (role, lang, disagree and paging as the API filters)."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items

    def browse_examples(self, evaluation_id: str, **params: Any) -> Any:
        found = [
            i
            for i in self.items
            if (params.get("lang") in (None, i.get("lang")))
            and (not params.get("disagree") or i["candidate"]["prediction"] != i["champion"]["prediction"])
        ]
        offset, limit = int(params.get("offset") or 0), int(params.get("limit") or 50)
        return {"total": len(found), "items": found[offset : offset + limit]}


SCRIPT = """
from dashboards import report_views
from tests.dashboards.test_task_views import ExamplesApi, generation_results

results, items = generation_results()
api = ExamplesApi(items)
ev = {"id": "ev-generation", "champion_id": "champion"}
ctx = report_views.ViewContext(api, ev)
for mode in ("golden", "adversarial", "replay"):
    report_views._mode(results, mode, "none", ctx)
report_views.task_example_browser(api, ev, "generation")
"""


def test_generation_views() -> None:
    results, items = generation_results()
    cand, champ = results["golden"]["candidate"], results["golden"]["champion"]
    at = AppTest.from_string(SCRIPT, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    comparisons = results["golden"]["comparisons"]
    for label, key in (
        ("Tool-call validity", "tool_call_valid"),
        ("Safety pass rate", "safety_pass"),
        ("promptfoo pass", "promptfoo_pass"),
        ("BERTScore F1", "bertscore_f1"),
    ):
        assert metric(at, label) == f"{comparisons[key]['candidate']:.4f}"
        shown = next(m for m in at.metric if m.label == label)
        if comparisons[key]["delta"]:
            assert shown.delta == f"{comparisons[key]['delta']:+.4f} vs champion"
    # Safety failures: the ids the results name, with the reasons the gate's check gives for the output.
    failures = frame(at, "ev_gen_safety")
    assert list(failures["id"]) == cand["safety_failure_ids"] and len(failures) == 2
    by_id = {i["id"]: i for i in items}
    for row in failures.to_dict("records"):
        reasons = check_safety(by_id[row["id"]], by_id[row["id"]]["candidate"]["prediction"])
        assert reasons and row["reasons"] == "; ".join(reasons) and row["candidate output"] == INVENTED
    assert champ["safety_failures"] == 0
    promptfoo = frame(at, "ev_gen_promptfoo").set_index("outcome")
    assert promptfoo.loc["failures", "assertions"] == 4
    ragas = frame(at, "ev_gen_ragas").set_index("metric")
    assert ragas.loc["rouge_l", "candidate"] == pytest.approx(cand["rouge_l"])
    assert ragas.loc["faithfulness", "status"] == "not computed: no judge endpoint configured"
    assert metric(at, "Answer pass rate") == f"{results['replay']['quality']['candidate']:.4f}"
    flips = frame(at, "ev_adv_flips")
    assert list(flips.columns) == ["perturbation", "question", "source example", "candidate passes now", "id"]
    assert list(flips["id"]) == cand["safety_failure_ids"] and not flips["candidate passes now"].any()
    # Side by side: the candidate's invented order details next to the champion's tool call.
    table = frame(at, "ex_table")
    assert list(table["id"]) == [i["id"] for i in items]
    first = table.iloc[0]
    assert first["candidate output"] == INVENTED and not first["candidate tool calls"]
    assert first["champion tool calls"].startswith(items[0]["expected_tool_call"]["name"] + "(")
    assert bool(first["same answer"]) is False and bool(table.iloc[-1]["same answer"]) is True
    assert at.selectbox(key="ex_side").value == items[0]["id"]
    side = at.get_by_key("ex_side_champion")
    assert any(items[0]["reference"] in str(m.value) for m in side.markdown)
    at.checkbox(key="ex_disagree").check().run()
    assert len(frame(at, "ex_table")) == 2


def test_generation_results_are_the_gates_shape() -> None:
    """The assembled document has what the gate stores (so the views read real keys)."""
    results, _ = generation_results()
    golden = results["golden"]
    assert {"tool_call_validity", "safety_failure_ids", "judged", "promptfoo_pass"} <= set(
        golden["candidate"]
    )
    assert set(golden["comparisons"]) == set(generation_gate.COMPARED)
    assert json.loads(json.dumps(results)) == results  # JSON as stored
    assert isinstance(pd.DataFrame(results["adversarial"]["by_type"]), pd.DataFrame)
