"""The local executor: every unit in the worker process, each model loaded once per evaluation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gatekeeper.evaluation import predictors, resampling
from gatekeeper.evaluation.executors.base import Finished, Model, Ticks
from gatekeeper.evaluation.predictors import Work


class LocalExecutor:
    name = "local"

    def __init__(self) -> None:
        self.loaded: dict[str, Any] = {}

    def predictor(self, model: Model) -> Any:
        """The loaded model (loaded on first use). The latency check uses it under every executor."""
        if model.sha256 not in self.loaded:
            self.loaded[model.sha256] = predictors.load(model.task, model.path, base_model=model.base_model)
        return self.loaded[model.sha256]

    def run(self, model: Model, works: Sequence[Work], tick: Ticks, finished: Finished) -> None:
        predictor = self.predictor(model)
        for index, work in enumerate(works):
            finished(index, predictors.run_units(predictor, work, lambda d, t, i=index: tick(i, d, t)))

    def release(self) -> None:
        self.loaded.clear()

    map_shards = staticmethod(resampling.serial)
