"""Bootstrap resamples drawn in shards that may run anywhere, with the same numbers wherever they run.

The B resamples of a bootstrap are cut into shards of at most ``rows`` resamples, a size set by the
data alone (a memory bound). Shard i draws from its own generator, ``default_rng([seed, i])`` (a
``SeedSequence`` of the seed and the shard's index), so its numbers depend only on the data, the seed
and i: shards may run in any order, on threads, or as Ray tasks (``executors.ray``), and the
concatenated resamples are the same bit for bit. This is what lets the executor change where the
statistics run without changing what they compute.

``sharded`` names, for the statistics of one evaluation, the map that runs the shards; by default they
run here, one after another. Pure: no I/O, and the map never changes a result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

# Bound on the elements of one (resamples x cells) or (resamples x examples) shard, ~32 MB of float64.
BLOCK_ELEMENTS = 1 << 22

Shard = tuple[int, int, int]  # (seed, index, resamples in the shard)
ShardFn = Callable[[np.random.Generator, int, Any], Any]  # (its generator, its resamples, shared) -> block
Mapper = Callable[[ShardFn, Any, Sequence[Shard]], list[Any]]


def run_shard(fn: ShardFn, shared: Any, shard: Shard) -> Any:
    """One shard, wherever it runs: its own generator, seeded by (seed, index) only."""
    seed, index, size = shard
    return fn(np.random.default_rng([seed, index]), size, shared)


def serial(fn: ShardFn, shared: Any, shards: Sequence[Shard]) -> list[Any]:
    """The default map: every shard here, in order."""
    return [run_shard(fn, shared, shard) for shard in shards]


_MAPPER: ContextVar[Mapper] = ContextVar("gatekeeper_resampling_mapper", default=serial)


@contextmanager
def sharded(mapper: Mapper) -> Iterator[None]:
    """Run the shards of every bootstrap in this context with ``mapper`` (results unchanged)."""
    token = _MAPPER.set(mapper)
    try:
        yield
    finally:
        _MAPPER.reset(token)


def layout(n_resamples: int, width: int, seed: int) -> list[Shard]:
    """The shards of B resamples whose rows are ``width`` elements wide."""
    if seed < 0:
        raise ValueError("a bootstrap seed must be >= 0")
    rows = max(1, min(n_resamples, BLOCK_ELEMENTS // max(1, width)))
    return [(seed, i, min(rows, n_resamples - start)) for i, start in enumerate(range(0, n_resamples, rows))]


def _weighted(rng: np.random.Generator, size: int, shared: Any) -> list[NDArray[np.float64]]:
    n, p, matrices = shared
    w = rng.multinomial(n, p, size=size).astype(np.float64)  # float64: the products go through BLAS
    return [w @ m for m in matrices]


def multinomial_products(
    counts: NDArray[np.int64], matrices: Sequence[NDArray[np.float64]], n_resamples: int, seed: int
) -> list[list[NDArray[np.float64]]]:
    """Per shard, ``w @ m`` for each matrix, where w holds (resamples x cells) multinomial counts of
    resampling the examples behind ``counts`` (so a cell's weight is how often its examples were drawn)."""
    shared = (int(counts.sum()), counts / counts.sum(), list(matrices))
    return _MAPPER.get()(_weighted, shared, layout(n_resamples, counts.shape[0], seed))


def _reduced(rng: np.random.Generator, size: int, shared: Any) -> NDArray[np.float64]:
    columns, how = shared
    idx = rng.integers(0, columns[0].shape[0], size=(size, columns[0].shape[0]))
    return np.stack([getattr(col[idx], how)(axis=1) for col in columns], axis=1)


def index_reductions(
    columns: NDArray[np.float64], n_resamples: int, seed: int, how: Literal["mean", "sum"]
) -> NDArray[np.float64]:
    """(B x c) means or sums of the columns of ``columns`` (n x c) over B index resamples of its rows."""
    contiguous = [np.ascontiguousarray(columns[:, j]) for j in range(columns.shape[1])]
    shards = layout(n_resamples, columns.shape[0], seed)
    return np.concatenate(_MAPPER.get()(_reduced, (contiguous, how), shards))
