"""The five modes for generators (QLoRA-tuned assistants): tool-call validity, safety, BERTScore,
RAGAS and promptfoo assertions, paired with the champion per example; slices and adversarial on the
per-example pass; counterfactual replay against the answers the champion actually served.

Metrics for every evaluation row are computed in one pass per model (one BERTScore model load, one
promptfoo subprocess), then cut per set."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from evalsets.generator import estimate_tokens
from gatekeeper.evaluation import stats
from gatekeeper.evaluation.evalset import EvalSet
from gatekeeper.evaluation.gate import SCHEMA_VERSION
from gatekeeper.evaluation.metrics.classification import latency_summary
from gatekeeper.evaluation.modes.adversarial import adversarial_table
from gatekeeper.evaluation.modes.correlation import correlation_mode
from gatekeeper.evaluation.modes.slices import slice_table
from gatekeeper.evaluation.predictions import Predictions
from gatekeeper.policy.schema import Policy

# Per-example arrays compared with the champion (the report's names; tool_call_valid is reported as
# tool_call_validity, the share of emitted calls that parse and match their schema).
COMPARED = ("promptfoo_pass", "bertscore_f1", "tool_call_valid", "tool_call_match", "safety_pass")
RENAMED = {"tool_call_valid": "tool_call_validity", "safety_pass": "safety_pass_rate"}


def _config(evalset: EvalSet) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    from gatekeeper.evaluation.metrics.generation import schemas_from_tools
    from gatekeeper.evaluation.metrics.promptfoo_runner import load_default_asserts

    tools_file = evalset.folder / "tools.json"
    schemas = (
        schemas_from_tools(json.loads(tools_file.read_text(encoding="utf-8")))
        if tools_file.is_file()
        else None
    )
    asserts_file = evalset.folder / "promptfoo_asserts.yaml"
    return (schemas or {}), (load_default_asserts(asserts_file) if asserts_file.is_file() else [])


def metrics_of(
    rows: Sequence[Mapping[str, Any]],
    outputs: Sequence[Mapping[str, Any]],
    evalset: EvalSet,
    judge: Any | None,
    scorer: Any,
) -> dict[str, Any]:
    """Every generation metric for these rows, once (the report's per-example arrays follow ``ids``)."""
    from gatekeeper.evaluation.metrics.generation import generation_report

    schemas, asserts = _config(evalset)
    return generation_report(
        rows, outputs, tool_schemas=schemas or None, bert_scorer=scorer, judge=judge, default_asserts=asserts
    )


def _column(report: Mapping[str, Any], key: str, ids: Sequence[str]) -> list[float | None]:
    where = {ident: i for i, ident in enumerate(report["ids"])}
    values = report["per_example"].get(key)
    return [None if values is None else values[where[i]] for i in ids]


def _failing(report: Mapping[str, Any]) -> set[str]:
    """Ids that broke a safety rule (refusal, forbidden pattern, invented order details)."""
    return {str(f["id"]) for f in (report.get("safety") or {}).get("failures", [])}


def ok_column(report: Mapping[str, Any], ids: Sequence[str]) -> np.ndarray:
    """An example is fine when its assertions pass and it broke no safety rule."""
    passed = _column(report, "promptfoo_pass", ids)
    failing = _failing(report)
    return np.array(
        [(p is None or p >= 1.0) and i not in failing for p, i in zip(passed, ids, strict=True)], dtype=float
    )


def summary(report: Mapping[str, Any], ids: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"n": len(ids)}
    for key in report["per_example"]:
        values = [v for v in _column(report, key, ids) if v is not None and math.isfinite(v)]
        out[RENAMED.get(key, key)] = float(np.mean(values)) if values else None
    failing = _failing(report)
    out["safety_failure_ids"] = [i for i in ids if i in failing]
    out["safety_failures"] = len(out["safety_failure_ids"])
    out["judged"] = report["overall"].get("judged")
    return out


def _paired(
    cand: Mapping[str, Any], champ: Mapping[str, Any], ids: Sequence[str], *, n_resamples: int, seed: int
) -> dict[str, Any]:
    out = {}
    for i, key in enumerate(COMPARED):
        a, b = _column(cand, key, ids), _column(champ, key, ids)
        if key == "safety_pass":  # every example, not only the declared safety cases
            a = [float(i not in _failing(cand)) for i in ids]
            b = [float(i not in _failing(champ)) for i in ids]
        pairs = [(x, y) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
        if pairs:
            x, y = np.array(pairs, dtype=float).T
            out[key] = stats.paired_bootstrap_mean(
                x, y, metric=key, n_resamples=n_resamples, seed=seed + i
            ).to_dict()
    return out


def _replay(
    rows: Sequence[Mapping[str, Any]],
    cand_report: Mapping[str, Any],
    served_report: Mapping[str, Any],
    candidate: Predictions,
    prices: Mapping[str, float],
    *,
    n_resamples: int,
    seed: int,
) -> dict[str, Any]:
    ids = [r["id"] for r in rows]
    quality = stats.paired_bootstrap_mean(
        ok_column(cand_report, ids),
        ok_column(served_report, ids),
        metric="answer_pass",
        n_resamples=n_resamples,
        seed=seed,
    )

    def cost(row: Mapping[str, Any]) -> float:
        out = candidate.get(row["id"])
        text = str(out.get("output") or "") + json.dumps(out.get("tool_calls") or [], ensure_ascii=False)
        return (
            row.get("prompt_tokens", 0) * prices.get("prompt", 0.0)
            + estimate_tokens(text) * prices.get("completion", 0.0)
        ) / 1000

    cost_cmp = stats.paired_bootstrap_mean(
        np.array([cost(r) for r in rows]),
        np.array([float(r.get("cost_usd", 0.0)) for r in rows]),
        metric="cost_per_session",
        n_resamples=n_resamples,
        seed=seed + 1,
    )
    served_ok, cand_ok = ok_column(served_report, ids), ok_column(cand_report, ids)
    unhappy = [i for i, r in enumerate(rows) if r.get("outcome") in ("escalated", "abandoned")]
    return {
        "n_sessions": len(rows),
        "n_labelled": len(rows),
        "quality": quality.to_dict(),
        "cost": cost_cmp.to_dict(),
        "cost_change_relative": cost_cmp.delta / cost_cmp.champion if cost_cmp.champion else None,
        "changed_rate": float(np.mean(served_ok != cand_ok)),
        "rescued": int(sum(1 for i in unhappy if not served_ok[i] and cand_ok[i])),
        "broken": int(sum(1 for i in range(len(rows)) if served_ok[i] and not cand_ok[i])),
    }


def generation_results(
    evalset: EvalSet,
    candidate: Predictions,
    champion: Predictions | None,
    policy: Policy,
    *,
    latency_ms: Sequence[float] | None,
    correlation_pairs: Sequence[dict[str, Any]],
    n_resamples: int = 1000,
    seed: int = 0,
    judge: Any | None = None,
) -> dict[str, Any]:
    from gatekeeper.evaluation.metrics.generation import default_bert_scorer

    scorer = default_bert_scorer()
    rows = [r for f in evalset.files.values() for r in f.rows]
    cand = metrics_of(rows, [{"id": r["id"], **candidate.get(r["id"])} for r in rows], evalset, judge, scorer)
    champ = (
        metrics_of(rows, [{"id": r["id"], **champion.get(r["id"])} for r in rows], evalset, judge, scorer)
        if champion
        else None
    )
    golden_ids = [r["id"] for r in evalset.examples("golden")]
    golden: dict[str, Any] = {
        "n": len(golden_ids),
        "candidate": summary(cand, golden_ids),
        "champion": summary(champ, golden_ids) if champ else None,
        "latency": latency_summary(latency_ms) if latency_ms else None,
        "promptfoo": {"stats": (cand.get("promptfoo") or {}).get("stats")},
    }
    if champ:
        golden["comparisons"] = _paired(cand, champ, golden_ids, n_resamples=n_resamples, seed=seed)
    results: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "task": "generation",
        "first_model": champion is None,
        "golden": golden,
        "correlation": correlation_mode(correlation_pairs, online_metric=policy.correlation.online_metric),
    }
    holdout = evalset.examples("holdout")
    if holdout:
        ids = [r["id"] for r in holdout]
        results["slices"] = slice_table(
            holdout,
            ok_column(cand, ids),
            ok_column(champ, ids) if champ else None,
            dimensions=[d for d in policy.slices.dimensions if d != "intent"],
            intersections=policy.slices.intersections,
            min_support=policy.slices.min_support,
            n_resamples=n_resamples,
            seed=seed + 1,
            metric="answer_pass",
        )
    results["adversarial"] = _adversarial(evalset, cand, champ, n_resamples=n_resamples, seed=seed + 2)
    replay = evalset.examples("replay")
    if replay:
        served = metrics_of(
            replay,
            [
                {
                    "id": r["id"],
                    "output": r.get("served_output") or "",
                    "tool_calls": r.get("served_tool_calls") or [],
                }
                for r in replay
            ],
            evalset,
            None,
            scorer,
        )
        results["replay"] = _replay(
            replay,
            cand,
            served,
            candidate,
            evalset.manifest.get("price_usd_per_1k_tokens", {}),
            n_resamples=n_resamples,
            seed=seed + 3,
        )
    return results


def _adversarial(
    evalset: EvalSet, cand: Mapping[str, Any], champ: Mapping[str, Any] | None, *, n_resamples: int, seed: int
) -> dict[str, Any] | None:
    rows = evalset.examples("adversarial")
    if not rows:
        return None
    ids, sources = [r["id"] for r in rows], [r["source_id"] for r in rows]

    def flips(report: Mapping[str, Any]) -> np.ndarray:
        return (ok_column(report, ids) != ok_column(report, sources)).astype(float)

    cand_ok = ok_column(cand, ids)
    describe = [
        {
            "id": r["id"],
            "perturbation": r.get("perturbation"),
            "text": r.get("question"),
            "source_id": r["source_id"],
            "candidate": bool(ok),
        }
        for r, ok in zip(rows, cand_ok, strict=True)
    ]
    return adversarial_table(
        rows,
        1.0 - cand_ok,
        None if champ is None else 1.0 - ok_column(champ, ids),
        flips(cand),
        None if champ is None else flips(champ),
        describe=describe,
        n_resamples=n_resamples,
        seed=seed,
    )
