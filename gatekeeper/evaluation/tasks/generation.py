"""Generation (QLoRA-tuned assistants): tool-call validity, safety, BERTScore, RAGAS and promptfoo
assertions, paired with the champion per example; an example's score is its pass (assertions pass and no
safety rule broken); replay compares with the answers the champion actually served.

Metrics for every evaluation row are computed in one pass per model (one BERTScore model load, one
promptfoo subprocess), then cut per set."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from evalsets.generator import estimate_tokens
from gatekeeper.evaluation import stats
from gatekeeper.evaluation.evalset import EvalSet
from gatekeeper.evaluation.metrics.classification import latency_summary
from gatekeeper.evaluation.metrics.generation import generation_report
from gatekeeper.evaluation.modes.replay import UNHAPPY, ReplayColumns, paired_replay
from gatekeeper.evaluation.predictions import Predictions
from gatekeeper.evaluation.tasks import Rows

# Per-example arrays compared with the champion (the report's names; tool_call_valid is reported as
# tool_call_validity, the share of emitted calls that parse and match their schema).
COMPARED = ("promptfoo_pass", "bertscore_f1", "tool_call_valid", "tool_call_match", "safety_pass")
RENAMED = {"tool_call_valid": "tool_call_validity", "safety_pass": "safety_pass_rate"}


@dataclass(frozen=True)
class GenerationConfig:
    """What the metric stack needs beyond the rows, read and loaded at the edge (the runner)."""

    tool_schemas: Mapping[str, Any]
    default_asserts: list[dict[str, Any]]
    scorer: Any  # the BERTScore model, loaded once
    judge: Any | None = None


def metrics_of(
    rows: Sequence[Mapping[str, Any]],
    outputs: Sequence[Mapping[str, Any]],
    config: GenerationConfig,
    judge: Any | None,
) -> dict[str, Any]:
    """Every generation metric for these rows, once (the report's per-example arrays follow ``ids``)."""
    return generation_report(
        rows,
        outputs,
        tool_schemas=config.tool_schemas or None,
        bert_scorer=config.scorer,
        judge=judge,
        default_asserts=config.default_asserts,
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


def replay_columns(
    rows: Sequence[Mapping[str, Any]],
    cand_report: Mapping[str, Any],
    served_report: Mapping[str, Any],
    candidate: Predictions,
    prices: Mapping[str, float],
) -> ReplayColumns:
    """Pass/fail of the candidate's answer beside the served one per session, and the tokens' cost."""
    ids = [r["id"] for r in rows]

    def cost(row: Mapping[str, Any]) -> float:
        out = candidate.get(row["id"])
        text = str(out.get("output") or "") + json.dumps(out.get("tool_calls") or [], ensure_ascii=False)
        return (
            row.get("prompt_tokens", 0) * prices.get("prompt", 0.0)
            + estimate_tokens(text) * prices.get("completion", 0.0)
        ) / 1000

    cand_ok, served_ok = ok_column(cand_report, ids), ok_column(served_report, ids)
    return ReplayColumns(
        candidate_ok=cand_ok,
        served_ok=served_ok,
        labelled=np.ones(len(rows), dtype=bool),  # a served answer is judged by the same assertions
        candidate_cost=np.array([cost(r) for r in rows]),
        served_cost=np.array([float(r.get("cost_usd", 0.0)) for r in rows]),
        changed=served_ok != cand_ok,
        unhappy=np.array([r.get("outcome") in UNHAPPY for r in rows], dtype=bool),
        quality_metric="answer_pass",
    )


def _served(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "id": r["id"],
            "output": r.get("served_output") or "",
            "tool_calls": r.get("served_tool_calls") or [],
        }
        for r in rows
    ]


def _outputs(rows: Sequence[Mapping[str, Any]], preds: Predictions) -> list[dict[str, Any]]:
    return [{"id": r["id"], **preds.get(r["id"])} for r in rows]


@dataclass(frozen=True)
class GenerationTask:
    """Both models' metric reports over every evaluation row (``measure``), cut per mode."""

    evalset: EvalSet
    predictions: Predictions  # the candidate's raw answers (replay prices their tokens)
    candidate: Mapping[str, Any]
    champion: Mapping[str, Any] | None
    config: GenerationConfig
    name: ClassVar[str] = "generation"
    slice_metric: ClassVar[str] = "answer_pass"

    def slice_dimensions(self, dimensions: Sequence[str]) -> list[str]:
        return [d for d in dimensions if d != "intent"]

    def golden(
        self, rows: Rows, *, latency_ms: Sequence[float] | None, n_resamples: int, seed: int
    ) -> dict[str, Any]:
        ids, cand, champ = [r["id"] for r in rows], self.candidate, self.champion
        golden: dict[str, Any] = {
            "n": len(ids),
            "candidate": summary(cand, ids),
            "champion": summary(champ, ids) if champ else None,
            "latency": latency_summary(latency_ms) if latency_ms else None,
            "promptfoo": {"stats": (cand.get("promptfoo") or {}).get("stats")},
        }
        if champ:
            golden["comparisons"] = _paired(cand, champ, ids, n_resamples=n_resamples, seed=seed)
        return golden

    def scores(self, rows: Rows, model: Mapping[str, Any]) -> np.ndarray:
        return ok_column(model, [r["id"] for r in rows])

    def answers(self, ids: Sequence[str], model: Mapping[str, Any]) -> list[Any]:
        return list(ok_column(model, ids))

    def covers(self, example_id: str | None) -> bool:
        return True  # every row was measured

    def describe(self, rows: Rows) -> list[dict[str, Any]]:
        return [
            {
                "id": r["id"],
                "perturbation": r.get("perturbation"),
                "text": r.get("question"),
                "source_id": r["source_id"],
                "candidate": bool(ok),
            }
            for r, ok in zip(rows, self.scores(rows, self.candidate), strict=True)
        ]

    def replay(self, rows: Rows, *, n_resamples: int, seed: int) -> dict[str, Any]:
        served = metrics_of(rows, _served(rows), self.config, None)
        prices = self.evalset.manifest.get("price_usd_per_1k_tokens", {})
        columns = replay_columns(rows, self.candidate, served, self.predictions, prices)
        return paired_replay(columns, n_resamples=n_resamples, quality_seed=seed, cost_seed=seed + 1)


def measure(
    evalset: EvalSet, candidate: Predictions, champion: Predictions | None, config: GenerationConfig
) -> GenerationTask:
    """Measure every evaluation row once per model (one BERTScore load, one promptfoo run), then cut."""
    rows = [r for f in evalset.files.values() for r in f.rows]
    cand = metrics_of(rows, _outputs(rows, candidate), config, config.judge)
    champ = metrics_of(rows, _outputs(rows, champion), config, config.judge) if champion else None
    return GenerationTask(evalset, candidate, cand, champ, config)
