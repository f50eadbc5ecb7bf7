"""Bootstrap shards: the same numbers however and wherever the shards run."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from gatekeeper.evaluation import resampling, stats
from gatekeeper.evaluation.metrics.ranking import counterfactual_report
from gatekeeper.evaluation.resampling import Shard, ShardFn


def reversed_order(fn: ShardFn, shared: Any, shards: list[Shard]) -> list[Any]:
    return [resampling.run_shard(fn, shared, s) for s in reversed(shards)][::-1]


def threaded(fn: ShardFn, shared: Any, shards: list[Shard]) -> list[Any]:
    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(lambda s: resampling.run_shard(fn, shared, s), shards))


@pytest.fixture(scope="module")
def scores() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    champion = rng.normal(0.5, 0.2, 50_000)
    return champion + rng.normal(0.01, 0.05, 50_000), champion


def test_layout_covers_every_resample_in_memory_bounded_shards() -> None:
    shards = resampling.layout(1000, 50_000, seed=7)
    rows = resampling.BLOCK_ELEMENTS // 50_000
    assert sum(size for _, _, size in shards) == 1000
    assert [index for _, index, _ in shards] == list(range(len(shards)))
    assert all(size <= rows for _, _, size in shards) and len(shards) == -(-1000 // rows)
    assert resampling.layout(1000, 10, seed=7) == [(7, 0, 1000)]  # narrow data: one shard
    with pytest.raises(ValueError, match="seed"):
        resampling.layout(10, 10, seed=-1)


@pytest.mark.parametrize("mapper", [reversed_order, threaded])
def test_continuous_comparison_is_the_same_under_any_map(mapper: Any, scores: Any) -> None:
    candidate, champion = scores
    assert len(resampling.layout(1000, candidate.size, seed=5)) > 5
    serial = stats.paired_bootstrap_mean(candidate, champion, n_resamples=1000, seed=5)
    with resampling.sharded(mapper):
        other = stats.paired_bootstrap_mean(candidate, champion, n_resamples=1000, seed=5)
    assert other == serial
    assert stats.paired_bootstrap_mean(candidate, champion, n_resamples=1000, seed=5) == serial  # reset


def test_a_shard_depends_only_on_its_seed_and_index(scores: Any) -> None:
    """More resamples extend the draws and never change the first shards' numbers."""
    column = scores[0][:, None]
    rows = resampling.BLOCK_ELEMENTS // column.shape[0]
    short = resampling.index_reductions(column, 2 * rows, seed=9, how="mean")
    long = resampling.index_reductions(column, 10 * rows, seed=9, how="mean")
    assert np.array_equal(short, long[: 2 * rows])
    assert not np.array_equal(short, resampling.index_reductions(column, 2 * rows, seed=10, how="mean"))


def test_reductions_match_the_resampled_rows_by_hand() -> None:
    columns = np.arange(12, dtype=np.float64).reshape(6, 2)
    shard = resampling.layout(4, 6, seed=1)[0]
    idx = np.random.default_rng([1, 0]).integers(0, 6, size=(4, 6))
    expected = columns[idx].sum(axis=1)
    assert shard == (1, 0, 4)
    assert np.array_equal(resampling.index_reductions(columns, 4, seed=1, how="sum"), expected)


def test_classification_and_counterfactual_shards_agree_with_a_threaded_map() -> None:
    rng = np.random.default_rng(1)
    labels = [f"c{i}" for i in range(8)]
    y = rng.choice(labels, 3000)
    cand, champ = np.where(rng.random(3000) < 0.8, y, rng.choice(labels, 3000)), rng.choice(labels, 3000)
    logged = [
        {"id": str(i), "logged_top1": "a", "propensity": 0.5, "clicked_doc_id": "a" if c else None}
        for i, c in enumerate(rng.integers(0, 2, 20_000))
    ]
    tops = {str(i): "a" if t else "b" for i, t in enumerate(rng.integers(0, 2, 20_000))}

    def both() -> tuple[Any, Any]:
        compared = stats.compare_classification(y, cand, champ, labels=labels, n_resamples=20_000, seed=2)
        return compared, counterfactual_report(logged, tops, n_resamples=600, seed=2)

    cells = len(set(zip(y, cand, champ, strict=True)))
    assert (
        len(resampling.layout(20_000, cells, seed=2)) > 1 and len(resampling.layout(600, 20_000, seed=2)) > 1
    )
    first = both()
    with resampling.sharded(threaded):
        second = both()
    assert first == second
