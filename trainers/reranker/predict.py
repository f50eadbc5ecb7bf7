"""Load a trained reranker folder (safetensors only) and score (query, product) pairs.

``score_queries`` is what the gate's run-the-artifact mode calls: it returns the ``{query_id:
{doc_id: score}}`` mapping that ``gatekeeper.evaluation.metrics.ranking`` consumes. Scores are the
head's raw logits (higher is more relevant); only their order matters to the metrics.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, PreTrainedModel

from gatekeeper.errors import ValidationFailed
from gatekeeper.registry.artifacts import pickled_files
from trainers.common.output import WEIGHTS


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def length_order(pairs: Sequence[tuple[str, str]]) -> list[int]:
    """Positions of ``pairs`` shortest first (ties in input order): the order ``pair_batches`` scores in,
    so a caller that cuts this order into whole batches gets the very same batches."""
    return sorted(range(len(pairs)), key=lambda i: (len(pairs[i][0]) + len(pairs[i][1]), i))


def pair_batches(
    tokenizer: Any,
    pairs: Sequence[tuple[str, str]],
    *,
    max_length: int,
    batch_size: int,
    device: torch.device,
) -> Iterator[tuple[list[int], Any]]:
    """Tokenised batches of pairs of similar length, each with the input positions it holds.

    Batching by length spares padding short pairs to the longest in the whole set; the positions let
    the caller put each result back in input order.
    """
    order = length_order(pairs)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        batch = tokenizer(
            [pairs[i][0] for i in idx],
            [pairs[i][1] for i in idx],
            padding=True,
            truncation=True,
            max_length=max_length,
            return_tensors="pt",
        )
        yield idx, batch.to(device)


def score_pairs(
    model: PreTrainedModel,
    tokenizer: Any,
    pairs: Sequence[tuple[str, str]],
    *,
    max_length: int,
    batch_size: int = 64,
) -> np.ndarray:
    """Return one logit per (query, text) pair, in input order.

    Batching by length (``pair_batches``) never changes which score belongs to which pair.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    accepted = set(inspect.signature(model.forward).parameters)
    device = next(model.parameters()).device
    out = np.empty(len(pairs), dtype=np.float64)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            batches = pair_batches(
                tokenizer, pairs, max_length=max_length, batch_size=batch_size, device=device
            )
            for idx, batch in batches:
                inputs = {k: v for k, v in batch.items() if k in accepted}
                out[idx] = model(**inputs).logits.float().reshape(-1).cpu().numpy()
    finally:
        model.train(was_training)
    return out


def _candidate_ids(query: Mapping[str, Any]) -> list[str]:
    """Accept candidates as evalset dicts, plain doc ids (click logs) or a ``{doc_id: rel}`` mapping."""
    cands = query["candidates"]
    if isinstance(cands, Mapping):
        return [str(d) for d in cands]
    return [str(c["doc_id"]) if isinstance(c, Mapping) else str(c) for c in cands]


def _product_text(products_by_id: Mapping[str, Any], doc_id: str) -> str:
    try:
        product = products_by_id[doc_id]
    except KeyError:
        raise ValidationFailed(f"candidate {doc_id!r} is not in the product catalogue") from None
    return str(product["text"]) if isinstance(product, Mapping) else str(product)


Slot = tuple[str, str, int]  # (query id, doc id, position of its pair among the unique pairs)


def query_pairs(
    queries: Sequence[Mapping[str, Any]], products_by_id: Mapping[str, Any]
) -> tuple[list[tuple[str, str]], list[Slot]]:
    """Every (query, product text) pair once, and where each query's candidate finds its pair."""
    unique: dict[tuple[str, str], int] = {}
    plan: list[Slot] = []
    for query in queries:
        for doc_id in _candidate_ids(query):
            pair = (str(query["query"]), _product_text(products_by_id, doc_id))
            slot = unique.setdefault(pair, len(unique))
            plan.append((str(query["id"]), doc_id, slot))
    return list(unique), plan


def scores_by_query(
    queries: Sequence[Mapping[str, Any]], plan: Sequence[Slot], scores: Sequence[float]
) -> dict[str, dict[str, float]]:
    """``{query id: {doc id: score}}`` from the unique pairs' scores."""
    out: dict[str, dict[str, float]] = {str(q["id"]): {} for q in queries}
    for qid, doc_id, slot in plan:
        out[qid][doc_id] = float(scores[slot])
    return out


@dataclass
class RerankerPredictor:
    model: PreTrainedModel
    tokenizer: Any
    max_length: int

    @classmethod
    def load(cls, path: str | Path, *, device: str = "cpu") -> RerankerPredictor:
        """Load a trainer output folder; refuse pickles and anything but a one-output head."""
        folder = Path(path)
        if not folder.is_dir():
            raise ValidationFailed(f"reranker model folder not found: {folder}", field="artifact_uri")
        if found := pickled_files(folder):
            raise ValidationFailed(f"refusing to load pickle files: {', '.join(found)}", files=found)
        if not (folder / WEIGHTS).is_file():
            raise ValidationFailed(f"no {WEIGHTS} in {folder}", field="artifact_uri")
        model = AutoModelForSequenceClassification.from_pretrained(
            folder, use_safetensors=True, local_files_only=True
        )
        if model.config.num_labels != 1:
            raise ValidationFailed(f"a reranker has one output, this head has {model.config.num_labels}")
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        model.to(resolve_device(device)).eval()
        return cls(model=model, tokenizer=tokenizer, max_length=int(tokenizer.model_max_length))

    def score(self, pairs: Sequence[tuple[str, str]], batch_size: int = 64) -> np.ndarray:
        """Return a relevance score (logit) per (query, product text) pair, in input order."""
        return score_pairs(
            self.model, self.tokenizer, pairs, max_length=self.max_length, batch_size=batch_size
        )

    def score_queries(
        self,
        queries: Sequence[Mapping[str, Any]],
        products_by_id: Mapping[str, Any],
        batch_size: int = 64,
    ) -> dict[str, dict[str, float]]:
        """Score every candidate of every query once; identical (query, product) pairs share one pass.

        ``queries`` rows need ``id``, ``query`` and ``candidates``; ``products_by_id`` maps a doc id
        to its text or to its products.jsonl row.
        """
        unique, plan = query_pairs(queries, products_by_id)
        return scores_by_query(queries, plan, self.score(unique, batch_size=batch_size))
