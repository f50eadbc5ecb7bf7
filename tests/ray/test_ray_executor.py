"""The Ray executor on a real local cluster: the same decision as the local executor (every metric to
1e-12), an actor killed mid-pass that Ray restarts without changing a number, and generation by the
gate with a tiny random Llama on CPU through the code a GPU node runs."""

from __future__ import annotations

import math
import os
import signal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from evalsets.manifest import read_jsonl
from gatekeeper.config import Settings
from gatekeeper.errors import ExecutorUnavailable
from gatekeeper.evaluation import predictors, resampling, stats
from gatekeeper.evaluation.executors.base import Model
from gatekeeper.evaluation.executors.local import LocalExecutor
from gatekeeper.evaluation.executors.ray import RayExecutor, UnitRunner
from gatekeeper.registry.artifacts import artifact_sha256
from tests.conftest import ROOT

# One cluster for the session: under xdist every test in tests/ray/ runs on one worker
# (make test: --dist loadgroup; tests/conftest.py: pytest_xdist_make_scheduler).
pytestmark = pytest.mark.slow


def assert_same(a: Any, b: Any, where: str = "") -> None:
    """Equal documents: every number to 1e-12 (NaN equals NaN), everything else exactly."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for key in a:
            assert_same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-12, f"{where}: {a} != {b}"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def decision_of(evaluation: dict[str, Any]) -> dict[str, Any]:
    """The decision without the ids of the rows that hold it, and without the latency figures: those
    are wall-clock samples taken in the worker under either executor, never equal twice."""
    decision = {k: v for k, v in evaluation["decision"].items() if k not in ("id", "evaluation_id")}
    for check in decision["checks"]:
        if check["metric"].startswith("latency"):
            check.pop("value"), check.pop("message")
    return decision


def results_of(evaluation: dict[str, Any]) -> dict[str, Any]:
    """Every measurement but the (wall-clock) latency samples."""
    results = evaluation["results"]
    assert results["golden"].pop("latency")["p95_ms"] > 0
    return results


def gate_candidate(world, models: dict[str, Path], executor: str) -> dict[str, Any]:  # noqa: ANN001
    with world(executor) as w:
        first = w.evaluate(models["champion"], "champion")
        assert first["status"] == "done", first["error"]
        w.promote(first["candidate_id"])
        result = w.evaluate(models["candidate"], "candidate")
        assert result["status"] == "done", result["error"]
        assert result["champion_id"] == first["candidate_id"]
        assert result["timings"]["executor"] == executor
        return result


def test_ray_gives_the_local_decision(ray_cluster, world, intent_models) -> None:  # noqa: ANN001
    local = gate_candidate(world, intent_models, "local")
    on_ray = gate_candidate(world, intent_models, "ray")
    assert decision_of(on_ray) == decision_of(local)
    assert_same(results_of(on_ray), results_of(local), "results")
    assert on_ray["results"]["golden"]["comparisons"]  # both models were run on Ray, and compared


def dies_once(marker: Path) -> type[UnitRunner]:
    """A runner whose actor kills itself (SIGKILL) on its first unit, once: a node lost mid-pass.
    Defined in a function, so Ray ships the class by value, with the marker's path in it."""

    class DiesOnce(UnitRunner):
        def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            if not marker.exists():
                marker.write_text(str(os.getpid()))
                os.kill(os.getpid(), signal.SIGKILL)
            return super().__call__(batch)

    return DiesOnce


def test_an_actor_killed_mid_pass_is_restarted_and_the_result_unchanged(
    ray_cluster,  # noqa: ANN001
    world,  # noqa: ANN001
    intent_models,  # noqa: ANN001
    tmp_path: Path,
) -> None:
    marker = tmp_path / "died"
    with world("local") as w:
        local = w.evaluate(intent_models["candidate"], "candidate")
    with world("ray") as w:
        survived = w.evaluate(
            intent_models["candidate"], "candidate", RayExecutor(w.settings, dies_once(marker))
        )
    assert marker.exists() and int(marker.read_text()) != os.getpid()  # an actor did die, mid-pass
    assert survived["status"] == "done", survived["error"]
    assert decision_of(survived) == decision_of(local)
    assert_same(results_of(survived), results_of(local), "results")


@pytest.fixture(scope="module")
def tiny_generator(tmp_path_factory: pytest.TempPathFactory) -> Model:
    """A random tiny Llama base and a random LoRA adapter on it, built here (no downloads)."""
    import torch
    from peft import get_peft_model

    from tests.fixtures.tiny_llama import build_tiny_llama, corpus, generator_conversations
    from trainers.qlora.model import load_base_full, lora_config

    folder = tmp_path_factory.mktemp("tiny-generator")
    base = build_tiny_llama(folder / "base", corpus(generator_conversations(40)))
    torch.manual_seed(3)
    config = lora_config(r=4, alpha=8)
    config.init_lora_weights = False  # a random adapter, so it does change the base's answers
    get_peft_model(load_base_full(str(base)), config).save_pretrained(folder / "adapter")
    adapter = folder / "adapter"
    return Model("generation", adapter, artifact_sha256(adapter), base)


def _generate(executor: Any, model: Model, rows: list[dict[str, Any]]) -> list[Any]:
    work = predictors.split("generation", rows, labels=[])
    outputs: dict[int, list[Any]] = {}
    executor.run(model, [work], lambda *_: None, outputs.__setitem__)
    return predictors.assemble(work, outputs[0]).output


def test_generation_by_the_gate_runs_a_tiny_llama_on_cpu_through_the_ray_path(
    ray_cluster,
    tiny_generator: Model,  # noqa: ANN001
) -> None:
    rows = read_jsonl(ROOT / "evalsets" / "generator" / "golden.jsonl")[:6]
    on_cpu = Settings(executor="ray", ray_gpus_per_actor=0)
    generated = _generate(RayExecutor(on_cpu), tiny_generator, rows)
    assert generated == _generate(LocalExecutor(), tiny_generator, rows)
    assert len(generated) == 6 and all(isinstance(g["output"], str) for g in generated)
    assert any(g["output"] for g in generated)  # a random model still says something

    with pytest.raises(ExecutorUnavailable, match="needs a GPU") as refused:  # the default asks for one
        _generate(RayExecutor(Settings(executor="ray")), tiny_generator, rows)
    assert refused.value.fields["missing"] == "GPU" and refused.value.fields["cluster_gpus"] == 0
    assert "predictions_uri" in refused.value.detail  # what to do instead: submit the outputs


def test_bootstrap_shards_on_ray_give_the_local_numbers(ray_cluster) -> None:  # noqa: ANN001
    """Shards as Ray tasks (several of them, on the cluster's workers) concatenate to the same resamples."""
    rng = np.random.default_rng(4)
    champion = rng.normal(0.5, 0.2, 40_000)
    candidate = champion + rng.normal(0.0, 0.05, 40_000)
    assert len(resampling.layout(1000, 40_000, seed=3)) > 4
    local = stats.paired_bootstrap_mean(candidate, champion, n_resamples=1000, seed=3)
    executor = RayExecutor(Settings(database_url="sqlite://", executor="ray"))
    with resampling.sharded(executor.map_shards):
        on_ray = stats.paired_bootstrap_mean(candidate, champion, n_resamples=1000, seed=3)
    assert on_ray == local
