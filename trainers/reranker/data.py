"""Load grouped reranker queries and the product catalogue; sample training pairs per epoch."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalsets.manifest import read_jsonl


@dataclass(frozen=True)
class Query:
    id: str
    text: str
    candidates: tuple[tuple[str, int], ...]  # (doc_id, relevance) in file order


def queries_from_rows(rows: Sequence[Mapping[str, Any]], source: str) -> list[Query]:
    """Keep id, query text and graded candidates; refuse malformed rows before any model loads."""
    out = []
    for n, row in enumerate(rows, start=1):
        text, cands = row.get("query"), row.get("candidates")
        if not isinstance(text, str) or not text.strip() or not isinstance(cands, list) or not cands:
            raise ValueError(
                f"{source}: row {n} (id={row.get('id')!r}) needs a 'query' and graded 'candidates'"
            )
        graded = tuple((str(c["doc_id"]), int(c["relevance"])) for c in cands)
        if any(not 0 <= r <= 3 for _, r in graded):
            raise ValueError(f"{source}: row {n} has a relevance outside 0-3")
        out.append(Query(str(row["id"]), text, graded))
    return out


def load_queries(path: Path, limit: int | None = None) -> list[Query]:
    """Read a grouped split; ``limit`` keeps the first queries (files are already shuffled)."""
    queries = queries_from_rows(read_jsonl(path), str(path))
    return queries[:limit] if limit is not None else queries


def load_products(path: Path) -> dict[str, str]:
    """Map doc_id to the product text the cross-encoder reads."""
    return {str(row["doc_id"]): str(row["text"]) for row in read_jsonl(path)}


def check_products(queries: Sequence[Query], products: Mapping[str, str], source: str) -> None:
    missing = sorted({d for q in queries for d, _ in q.candidates if d not in products})
    if missing:
        raise ValueError(
            f"{source}: {len(missing)} candidate doc ids are not in products.jsonl, e.g. {missing[0]}"
        )


def sample_groups(
    queries: Sequence[Query], per_query: int, rng: random.Random
) -> list[list[tuple[str, str, int]]]:
    """Draw each query's group for one epoch: one best-graded candidate plus random others.

    Keeping a top-graded item in every group gives every query a positive to rank first, which a
    uniform draw (most candidates are grade 0) would often miss.
    """
    groups = []
    for q in queries:
        best = max(r for _, r in q.candidates)
        tops = [c for c in q.candidates if c[1] == best]
        first = rng.choice(tops)
        rest = [c for c in q.candidates if c != first]
        picked = [first, *rng.sample(rest, min(per_query - 1, len(rest)))]
        rng.shuffle(picked)
        groups.append([(q.text, doc, rel) for doc, rel in picked])
    rng.shuffle(groups)
    return groups
