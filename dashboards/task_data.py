"""Ranking and generation results shaped for the report: per-query NDCG, the counterfactual replay with
its intervals, generation metric cards and tables, and the example browser's rows per task.

Per-example figures the results do not store (a holdout query's NDCG, a safety failure's reasons) are
recomputed with the gate's own pure functions on what the examples endpoint returns, never re-invented.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from gatekeeper.evaluation.metrics.generation import check_safety
from gatekeeper.evaluation.metrics.ranking import per_query_metrics, rank_by_score

RANKING_CARDS = (("NDCG@10", "ndcg@10"), ("MRR", "mrr"), ("Recall@5", "recall@5"))
GENERATION_CARDS = (
    ("Tool-call validity", "tool_call_validity", "tool_call_valid"),
    ("Tool-call match", "tool_call_match", "tool_call_match"),
    ("Safety pass rate", "safety_pass_rate", "safety_pass"),
    ("BERTScore F1", "bertscore_f1", "bertscore_f1"),
    ("promptfoo pass", "promptfoo_pass", "promptfoo_pass"),
)
RAGAS_OFFLINE = ("context_precision", "context_recall", "bleu", "rouge_l", "string_similarity")


# --- ranking -------------------------------------------------------------------------------------


def ranking_metric_table(golden: Mapping[str, Any]) -> pd.DataFrame:
    """Every mean the ranking report computed (NDCG@k, MRR, recall@k), candidate beside champion."""
    cand = golden.get("candidate") or {}
    champ = golden.get("champion") or {}
    names = [k for k, v in cand.items() if isinstance(v, int | float) and ("@" in k or k == "mrr")]
    rows = [
        {
            "metric": name,
            "candidate": cand.get(name),
            "champion": champ.get(name),
            "delta": (cand[name] - champ[name]) if champ.get(name) is not None else None,
        }
        for name in sorted(names, key=lambda n: (n.split("@")[0], int(n.split("@")[1]) if "@" in n else 0))
    ]
    return pd.DataFrame(rows, columns=["metric", "candidate", "champion", "delta"])


def per_query_frame(golden: Mapping[str, Any], metric: str = "ndcg@10") -> pd.DataFrame:
    """One row per golden query: the candidate's and the champion's value and their difference."""
    cand = ((golden.get("candidate") or {}).get("per_query")) or {}
    champ = ((golden.get("champion") or {}).get("per_query")) or {}
    ids = list(cand.get("ids") or [])
    champion_by_id = dict(zip(champ.get("ids") or [], champ.get(metric) or [], strict=False))
    rows = []
    for ident, value in zip(ids, cand.get(metric) or [], strict=False):
        base = champion_by_id.get(ident)
        rows.append(
            {
                "id": ident,
                "candidate": value,
                "champion": base,
                "delta": None if base is None else value - base,
            }
        )
    return pd.DataFrame(rows, columns=["id", "candidate", "champion", "delta"])


def per_query_long(frame: pd.DataFrame) -> pd.DataFrame:
    """Candidate and champion values stacked, for a distribution chart."""
    parts = [
        pd.DataFrame({"model": model, "value": frame[model]}).dropna()
        for model in ("candidate", "champion")
        if model in frame
    ]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["model", "value"])


def histogram(long: pd.DataFrame, bins: int = 10) -> pd.DataFrame:
    """Counts per model in equal bins of [0, 1] (the last bin holds 1.0)."""
    edges = [i / bins for i in range(bins + 1)]
    labels = [f"{edges[i]:.1f}–{edges[i + 1]:.1f}" for i in range(bins)]
    cut = pd.cut(long["value"].clip(0, 1), bins=edges, labels=labels, include_lowest=True)
    counts = long.assign(bin=cut).groupby(["bin", "model"], observed=False).size().reset_index(name="count")
    return counts.astype({"bin": str})


def counterfactual_frame(replay: Mapping[str, Any]) -> pd.DataFrame:
    """IPS and SNIPS estimates of the candidate's top-slot CTR beside the logging policy's own CTR."""
    cf = replay.get("counterfactual") or {}
    labels = {
        "ips": "candidate (IPS)",
        "snips": "candidate (SNIPS)",
        "logging_ctr": "logging policy (observed)",
    }
    rows = []
    for key, name in labels.items():
        part = cf.get(key) or {}
        ci = part.get("ci") or [None, None]
        rows.append({"estimate": name, "ctr": part.get("value"), "ci low": ci[0], "ci high": ci[1]})
    return pd.DataFrame(rows, columns=["estimate", "ctr", "ci low", "ci high"])


def _grades(row: Mapping[str, Any]) -> dict[str, float]:
    cands = row.get("candidates") or []
    if cands and isinstance(cands[0], Mapping):
        return {str(c["doc_id"]): float(c["relevance"]) for c in cands}
    return {}


def _top(view: Mapping[str, Any] | None) -> str | None:
    scores = (view or {}).get("prediction")
    return rank_by_score(scores)[0] if isinstance(scores, Mapping) and scores else None


def _ndcg(
    row: Mapping[str, Any], view: Mapping[str, Any] | None, grades: Mapping[str, float]
) -> float | None:
    scores = (view or {}).get("prediction")
    if not grades or not isinstance(scores, Mapping):
        return None
    _, table = per_query_metrics([row], {str(row["id"]): scores})
    return float(table["ndcg@10"][0])


RANKING_EXAMPLE_COLUMNS = (
    "id",
    "query",
    "lang",
    "perturbation",
    "candidate top",
    "candidate top grade",
    "champion top",
    "champion top grade",
    "top changed",
    "candidate ndcg@10",
    "champion ndcg@10",
    "logged top",
    "clicked",
)


def _ranking_example_row(item: Mapping[str, Any]) -> dict[str, Any]:
    """One query: each model's top result and its grade, NDCG@10 per model, the logged top and click."""
    grades = _grades(item)
    cand, champ = item.get("candidate"), item.get("champion")
    top_c, top_h = _top(cand), _top(champ)
    return {
        "id": item["id"],
        "query": item.get("query"),
        "lang": item.get("lang"),
        "perturbation": item.get("perturbation"),
        "candidate top": top_c,
        "candidate top grade": grades.get(top_c) if top_c else None,
        "champion top": top_h,
        "champion top grade": grades.get(top_h) if top_h else None,
        "top changed": None if champ is None else top_c != top_h,
        "candidate ndcg@10": _ndcg(item, cand, grades),
        "champion ndcg@10": _ndcg(item, champ, grades),
        "logged top": (item.get("logged_ranking") or [None])[0],
        "clicked": item.get("clicked_doc_id"),
    }


def ranking_example_frame(items: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Queries with each model's top result (and its grade), NDCG@10 per model where judged, and whether
    the top result changed; logged impressions show the logged top and the click instead of grades."""
    frame = pd.DataFrame(
        [_ranking_example_row(item) for item in items], columns=list(RANKING_EXAMPLE_COLUMNS)
    )
    return frame.dropna(axis=1, how="all")


# --- generation ----------------------------------------------------------------------------------


def generation_cards(golden: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Headline figures with the champion's value and the paired comparison when there is one."""
    cand = golden.get("candidate") or {}
    champ = golden.get("champion") or {}
    comparisons = golden.get("comparisons") or {}
    cards = []
    for label, key, compared in GENERATION_CARDS:
        comparison = comparisons.get(compared) or {}
        cards.append(
            {
                "label": label,
                "candidate": comparison.get("candidate", cand.get(key)),
                "champion": comparison.get("champion", champ.get(key)),
                "delta": comparison.get("delta"),
                "ci": (comparison.get("ci_low"), comparison.get("ci_high")),
                "n": comparison.get("n", cand.get("n")),
            }
        )
    return cards


def ragas_table(golden: Mapping[str, Any]) -> pd.DataFrame:
    """The non-LLM RAGAS metrics (candidate vs champion) and the judged ones with their status."""
    cand = golden.get("candidate") or {}
    champ = golden.get("champion") or {}
    rows = [
        {
            "metric": name,
            "kind": "non-LLM",
            "candidate": cand.get(name),
            "champion": champ.get(name),
            "status": "computed" if cand.get(name) is not None else "not applicable",
        }
        for name in RAGAS_OFFLINE
        if name in cand
    ]
    for name, judged in (cand.get("judged") or {}).items():
        status = judged.get("status", "not_computed")
        rows.append(
            {
                "metric": name,
                "kind": "LLM-judged",
                "candidate": judged.get("mean") if status == "computed" else None,
                "champion": ((champ.get("judged") or {}).get(name) or {}).get("mean"),
                "status": "computed" if status == "computed" else f"not computed: {judged.get('reason', '')}",
            }
        )
    return pd.DataFrame(rows, columns=["metric", "kind", "candidate", "champion", "status"])


def promptfoo_table(golden: Mapping[str, Any]) -> pd.DataFrame:
    stats = ((golden.get("promptfoo") or {}).get("stats")) or {}
    return pd.DataFrame(
        [{"outcome": k, "assertions": v} for k, v in stats.items() if isinstance(v, int | float)],
        columns=["outcome", "assertions"],
    )


def _output(view: Mapping[str, Any] | None) -> dict[str, Any]:
    prediction = (view or {}).get("prediction")
    return dict(prediction) if isinstance(prediction, Mapping) else {"output": prediction, "tool_calls": []}


def tool_calls_text(calls: Any) -> str:
    if not calls:
        return ""
    return "; ".join(
        f"{c.get('name')}({json.dumps(c.get('arguments'), ensure_ascii=False, sort_keys=True)})"
        if isinstance(c, Mapping)
        else str(c)
        for c in calls
    )


def safety_failures(ids: Sequence[str], items: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The failing ids with the reasons the gate's ``check_safety`` gives for the stored output."""
    by_id = {str(i["id"]): i for i in items}
    rows = []
    for ident in ids:
        item = by_id.get(str(ident))
        output = _output((item or {}).get("candidate"))
        reasons = check_safety(item, output) if item else []
        rows.append(
            {
                "id": ident,
                "question": (item or {}).get("question"),
                "reasons": "; ".join(reasons) if reasons else "not found in the golden examples",
                "candidate output": output.get("output"),
                "tool calls": tool_calls_text(output.get("tool_calls")),
            }
        )
    return pd.DataFrame(rows, columns=["id", "question", "reasons", "candidate output", "tool calls"])


def generation_example_frame(items: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Questions with the candidate's and the champion's answers (text and tool calls) side by side."""
    rows = []
    for item in items:
        cand, champ = _output(item.get("candidate")), item.get("champion")
        base = _output(champ) if champ is not None else {}
        rows.append(
            {
                "id": item["id"],
                "question": item.get("question"),
                "lang": item.get("lang"),
                "candidate output": cand.get("output"),
                "candidate tool calls": tool_calls_text(cand.get("tool_calls")),
                "champion output": base.get("output"),
                "champion tool calls": tool_calls_text(base.get("tool_calls")),
                "same answer": None if champ is None else cand == base,
                "reference": item.get("reference"),
            }
        )
    columns = [
        "id",
        "question",
        "lang",
        "candidate output",
        "candidate tool calls",
        "champion output",
        "champion tool calls",
        "same answer",
        "reference",
    ]
    return pd.DataFrame(rows, columns=columns)
