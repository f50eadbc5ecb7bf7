"""What every executor is given and must do: run a pass's units with one model, hand back their outputs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from gatekeeper.evaluation.predictors import Work
from gatekeeper.evaluation.resampling import Shard, ShardFn

Ticks = Callable[[int, int, int], None]  # (work index, inputs done, inputs in that work)
Finished = Callable[[int, list[Any]], None]  # (work index, its units' outputs in unit order)


@dataclass(frozen=True)
class Model:
    """An artifact to run, named so that any machine can load (and re-verify) it."""

    task: str
    path: Path
    sha256: str
    base_model: Path | None = None  # generators: the base the adapter applies to


class Executor(Protocol):
    """Where prediction passes run. It changes where the work runs, never what is computed: every
    executor returns each unit's output exactly as ``predictors.run_unit`` computes it."""

    name: str

    def run(self, model: Model, works: Sequence[Work], tick: Ticks, finished: Finished) -> None:
        """Run every unit of every work with one model (loaded once per process that runs units);
        call ``finished`` once per work, as soon as all its units are done, in any order."""
        ...

    def release(self) -> None:
        """Free the models this executor holds (before the statistics)."""
        ...

    def map_shards(self, fn: ShardFn, shared: Any, shards: Sequence[Shard]) -> list[Any]:
        """Run the bootstrap's shards (``resampling.run_shard`` each) and return their blocks in order."""
        ...
