"""Load intent examples, subset them deterministically and describe them for the data-audit log."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from evalsets.manifest import read_jsonl


@dataclass(frozen=True)
class Examples:
    ids: list[str]
    texts: list[str]
    labels: list[str]

    def __len__(self) -> int:
        return len(self.texts)

    def take(self, indices: Sequence[int]) -> Examples:
        return Examples(
            [self.ids[i] for i in indices],
            [self.texts[i] for i in indices],
            [self.labels[i] for i in indices],
        )


def examples_from_rows(rows: Sequence[Mapping[str, Any]], source: str) -> Examples:
    """Keep id, text and label; refuse rows without them so a bad file fails before training."""
    ids, texts, labels = [], [], []
    for n, row in enumerate(rows, start=1):
        text, label = row.get("text"), row.get("label")
        if not isinstance(text, str) or not text.strip() or not isinstance(label, str) or not label:
            raise ValueError(f"{source}: row {n} (id={row.get('id')!r}) needs a non-empty 'text' and 'label'")
        ids.append(str(row.get("id", f"{source}:{n}")))
        texts.append(text)
        labels.append(label)
    return Examples(ids, texts, labels)


def load_examples(path: Path) -> Examples:
    return examples_from_rows(read_jsonl(path), str(path))


def stratified_subset(labels: Sequence[str], n: int, seed: int) -> list[int]:
    """Choose n indices keeping class shares (largest remainder, at least one per class), sorted.

    Every class keeps one example even when its share rounds to zero, so class weights stay defined
    in fast runs on small subsets.
    """
    if n >= len(labels):
        return list(range(len(labels)))
    by_class: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        by_class.setdefault(label, []).append(i)
    classes = sorted(by_class)
    if n < len(classes):
        raise ValueError(f"cannot keep {len(classes)} classes in a subset of {n}")
    sizes = np.array([len(by_class[c]) for c in classes], dtype=float)
    exact = sizes * n / sizes.sum()
    quota = np.maximum(np.floor(exact).astype(int), 1)
    order = sorted(range(len(classes)), key=lambda k: (-(exact[k] - np.floor(exact[k])), classes[k]))
    step = 0
    while quota.sum() != n:
        k = order[step % len(order)]
        if quota.sum() < n and quota[k] < sizes[k]:
            quota[k] += 1
        elif quota.sum() > n and quota[k] > 1:
            quota[k] -= 1
        step += 1
    rng = np.random.default_rng(seed)
    chosen: list[int] = []
    for k, cls in enumerate(classes):
        members = np.array(by_class[cls])
        chosen.extend(int(i) for i in rng.permutation(members)[: quota[k]])
    return sorted(chosen)


def stratified_split(labels: Sequence[str], val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Split indices into (train, val) with the class shares of the whole."""
    val = stratified_subset(labels, max(1, round(len(labels) * val_fraction)), seed)
    chosen = set(val)
    return [i for i in range(len(labels)) if i not in chosen], val


def label_distribution(labels: Sequence[str]) -> dict[str, float]:
    """Class shares in percent, largest first (ties by name)."""
    counts = Counter(labels)
    total = sum(counts.values()) or 1
    return {label: 100.0 * c / total for label, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))}


def audit_line(run_id: str, train: Examples, val: Examples) -> str:
    """Render seed 003's ``[DATA_AUDIT]`` line."""
    dist = ", ".join(f"{label}:{share:.1f}" for label, share in label_distribution(train.labels).items())
    dupes = len(set(train.texts) & set(val.texts))
    return (
        f"[DATA_AUDIT] run_id={run_id} total_examples={len(train) + len(val)} train={len(train)} "
        f"val={len(val)} train_val_duplicate_texts={dupes} label_distribution={{{dist}}}"
    )
