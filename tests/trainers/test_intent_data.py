"""Deterministic stratified subsets and splits for fast runs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.trainers.conftest import make_rows
from trainers.intent.data import audit_line, load_examples, stratified_split, stratified_subset


def test_subset_keeps_class_shares_and_is_deterministic() -> None:
    labels = ["a"] * 600 + ["b"] * 300 + ["c"] * 100
    chosen = stratified_subset(labels, 100, seed=3)
    assert Counter(labels[i] for i in chosen) == {"a": 60, "b": 30, "c": 10}
    assert chosen == stratified_subset(labels, 100, seed=3)
    assert chosen != stratified_subset(labels, 100, seed=4)
    assert chosen == sorted(set(chosen))


def test_subset_keeps_every_class_and_exact_size() -> None:
    labels = ["a"] * 980 + ["b"] * 15 + ["c"] * 5
    chosen = stratified_subset(labels, 50, seed=0)
    counts = Counter(labels[i] for i in chosen)
    assert len(chosen) == 50
    assert set(counts) == {"a", "b", "c"}  # c's share rounds to 0.25 but it keeps one
    assert counts["c"] == 1
    assert stratified_subset(labels, 5000, seed=0) == list(range(1000))
    with pytest.raises(ValueError):
        stratified_subset(labels, 2, seed=0)


def test_split_is_disjoint_and_stratified() -> None:
    labels = ["a"] * 80 + ["b"] * 20
    train, val = stratified_split(labels, 0.1, seed=1)
    assert not set(train) & set(val)
    assert sorted(train + val) == list(range(100))
    assert Counter(labels[i] for i in val) == {"a": 8, "b": 2}


def test_load_refuses_rows_without_text_or_label(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(
        '{"id": "x1", "text": "hi", "label": "chitchat"}\n{"id": "x2", "text": " ", "label": "faq"}\n'
    )
    with pytest.raises(ValueError, match="row 2 .id='x2'"):
        load_examples(path)


def test_audit_line_lists_shares_largest_first(write_rows: Callable[[str, list[dict]], Path]) -> None:
    rows = make_rows({"faq": 6, "escalation": 2, "chitchat": 2}, labels=["faq", "escalation", "chitchat"])
    examples = load_examples(write_rows("train.jsonl", rows))
    line = audit_line("r1", examples, examples.take([0]))
    assert line.startswith("[DATA_AUDIT] run_id=r1 total_examples=11 train=10 val=1")
    assert line.endswith("label_distribution={faq:60.0, chitchat:20.0, escalation:20.0}")
