"""The intent gate on the shipped evalsets (18,000 examples, 16,883 unique texts) with the local
executor and with the Ray executor on a local cluster of 1 and of 2 CPUs; then one pass at a few sizes
on each, to split a pass's time into a fixed cost and a per-input cost (a least-squares line through
those passes and the gate's own). Prints the overhead of Ray at
this size, the per-actor throughput, and the size past which Ray pays for itself on this machine.

The MiniLM classifier is built from the packaged encoder with a fresh head (its quality does not matter
for timing; its size and inputs do), as in gate_overhead.py. Each gate runs on a fresh SQLite database,
so no prediction comes from the cache.

    python benchmarks/ray_scaling.py [--sizes 1024,4096] [--fraction 1.0]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import ray  # noqa: E402

from benchmarks.gate_overhead import TAGS, make_model  # noqa: E402
from evalsets.manifest import load_manifest, read_jsonl, write_jsonl, write_manifest  # noqa: E402
from gatekeeper.config import PROJECT_ROOT, Settings  # noqa: E402
from gatekeeper.db import Database  # noqa: E402
from gatekeeper.evaluation import evalset as evalsets  # noqa: E402
from gatekeeper.evaluation import predictors, runner  # noqa: E402
from gatekeeper.evaluation import service as evaluations  # noqa: E402
from gatekeeper.evaluation.executors.base import Executor, Model  # noqa: E402
from gatekeeper.evaluation.executors.local import LocalExecutor  # noqa: E402
from gatekeeper.evaluation.executors.ray import RayExecutor  # noqa: E402
from gatekeeper.evaluation.schemas import EvaluationCreate  # noqa: E402
from gatekeeper.migrate import upgrade  # noqa: E402
from gatekeeper.registry import service as registry  # noqa: E402
from gatekeeper.registry.artifacts import artifact_sha256  # noqa: E402
from gatekeeper.registry.schemas import CandidateCreate, TargetCreate  # noqa: E402

SHIPPED = PROJECT_ROOT / "evalsets" / "intent_classifier"
CONFIGS = (("local", 0), ("ray", 1), ("ray", 2))  # (executor, CPUs of the local Ray cluster)


def evalset_dir(work: Path, fraction: float) -> Path:
    """The shipped evalset, or a cut of it (``--fraction``) for a quick run."""
    if fraction >= 1.0:
        return SHIPPED
    folder, manifest = work / "evalset", load_manifest(SHIPPED)
    folder.mkdir()
    roles = {n: manifest["files"][n]["role"] for n in ("golden.jsonl", "holdout.jsonl", "replay.jsonl")}
    for name in roles:
        rows = read_jsonl(SHIPPED / name)
        write_jsonl(folder / name, rows[: max(1, int(len(rows) * fraction))])
    meta = {k: v for k, v in manifest.items() if k != "files"} | {"version": f"cut-{fraction}"}
    write_manifest(folder, meta=meta, roles=roles)
    return folder


def settings_for(work: Path, executor: str, cpus: int) -> Settings:
    url = f"sqlite:///{work / f'{executor}-{cpus}.db'}"
    upgrade(url)
    return Settings(
        database_url=url,
        artifact_root=work / "artifacts",
        report_dir=work / "reports",
        evalset_root=PROJECT_ROOT,
        executor=executor,
        ray_actors=max(cpus, 1),
    )


def gate(settings: Settings, evalset: Path) -> dict[str, Any]:
    """A first-model gate of the candidate: one prediction pass over every file, then the statistics."""
    db = Database.from_url(settings.database_url)
    policy = (
        (PROJECT_ROOT / "policies" / "intent_classifier.yaml")
        .read_text()
        .replace("evalset_dir: evalsets/intent_classifier", f"evalset_dir: {evalset}")
        .replace("floors: {macro_f1: 0.80}", "floors: {}")
        .replace("latency_p95_ms: 15", "latency_p95_ms: 10000")
    )
    with db.transaction() as session:
        spec = TargetCreate(name="intent_classifier", task="classification", policy=policy)
        registry.create_target(session, spec=spec, actor="bench")
        candidate, _ = registry.register_candidate(
            session,
            spec=CandidateCreate(
                target="intent_classifier",
                artifact_uri="candidate",
                artifact_sha256=artifact_sha256(settings.artifact_root / "candidate"),
                tags=TAGS,
            ),
            actor="bench",
            settings=settings,
        )
        evaluation = evaluations.request_evaluation(
            session, candidate_id=candidate.id, spec=EvaluationCreate(), actor="bench", settings=settings
        )
        evaluation_id = evaluation.id
    started = time.perf_counter()
    runner.run(db, settings, evaluation_id, echo=lambda _: None)
    wall = time.perf_counter() - started
    with db.session() as session:
        timings = evaluations.get_evaluation(session, evaluation_id).timings
    db.dispose()
    return {"wall_s": wall, "predict_s": timings["candidate_predictions_s"]}


def one_pass(executor: Executor, model: Model, texts: list[str], labels: list[str]) -> float:
    """Seconds for one prediction pass over ``texts`` (the model loaded inside the pass)."""
    rows = [{"id": str(i), "text": t} for i, t in enumerate(texts)]
    work = predictors.split("classification", rows, labels=labels)
    started = time.perf_counter()
    executor.run(model, [work], lambda *_: None, lambda *_: None)
    return time.perf_counter() - started


def fit(sizes: list[int], seconds: list[float]) -> tuple[float, float]:
    """Least squares ``seconds = fixed + size / throughput``: (fixed seconds, inputs per second)."""
    slope, fixed = np.polyfit(np.array(sizes, dtype=float), np.array(seconds), 1)
    return float(fixed), float(1.0 / slope) if slope > 0 else float("inf")


def with_cluster(cpus: int, body: Callable[[], Any]) -> Any:
    if cpus:
        ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    try:
        return body()
    finally:
        if cpus:
            ray.shutdown()


def gates(work: Path, evalset: Path) -> dict[tuple[str, int], dict[str, Any]]:
    out = {}
    for executor, cpus in CONFIGS:
        settings = settings_for(work, executor, cpus)
        out[(executor, cpus)] = with_cluster(cpus, lambda s=settings: gate(s, evalset))
        print(f"  gate on {executor} ({cpus or 'in-process'} CPU): {out[(executor, cpus)]}", flush=True)
    return out


def passes(work: Path, sizes: list[int], labels: list[str]) -> dict[tuple[str, int], list[float]]:
    """Seconds of one pass at each size (distinct texts from the holdout), per configuration."""
    texts = sorted({r["text"] for r in evalsets.load(SHIPPED).examples("holdout")})
    random.Random(0).shuffle(texts)
    path = work / "artifacts" / "candidate"
    model = Model("classification", path, artifact_sha256(path))
    out = {}
    for executor, cpus in CONFIGS:
        settings = settings_for(work, executor, cpus)

        def measure(s: Settings = settings) -> list[float]:
            run = RayExecutor(s) if s.executor == "ray" else None
            return [one_pass(run or LocalExecutor(), model, texts[:n], labels) for n in sizes]

        seconds = with_cluster(cpus, measure)
        out[(executor, cpus)] = seconds
        shown = ", ".join(f"{n}: {s:.1f}s" for n, s in zip(sizes, seconds, strict=True))
        print(f"  passes on {executor} ({cpus or 'in-process'} CPU): {shown}", flush=True)
    return out


def break_even(local: tuple[float, float], remote: tuple[float, float]) -> float | None:
    """Inputs past which the Ray pass is the shorter one (None: never, at these throughputs)."""
    (f_local, t_local), (f_ray, t_ray) = local, remote
    saved_per_input = 1.0 / t_local - 1.0 / t_ray
    if saved_per_input <= 0:
        return None
    return max(0.0, (f_ray - f_local) / saved_per_input)


def report(results: dict, fits: dict, n_inputs: int) -> None:
    base = results[("local", 0)]
    print("\n| executor | gate wall s | prediction pass s | fixed s/pass | inputs/s | break-even inputs |")
    print("|---|---|---|---|---|---|")
    for key in CONFIGS:
        fixed, rate = fits[key]
        even = "-" if key == ("local", 0) else break_even(fits[("local", 0)], fits[key])
        shown = "never" if even is None else (even if isinstance(even, str) else f"{even:,.0f}")
        name = "local (in-process)" if key[0] == "local" else f"ray, {key[1]} CPU, {key[1]} actor(s)"
        r = results[key]
        row = f"{r['wall_s']:.1f} | {r['predict_s']:.1f} | {fixed:.1f} | {rate:.1f} | {shown}"
        print(f"| {name} | {row} |")
    for key in CONFIGS[1:]:
        overhead = results[key]["wall_s"] - base["wall_s"]
        fixed = fits[key][0] - fits[("local", 0)][0]
        share = overhead / base["wall_s"]
        print(f"Ray at {n_inputs:,} inputs, {key[1]} CPU: gate {overhead:+.1f}s ({share:+.0%}) vs local;")
        print(f"  fixed cost per pass {fixed:+.1f}s vs local")
    per_actor = fits[("ray", 1)][1]
    print(f"per-actor throughput (1 CPU each): {per_actor:.1f} inputs/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1024,4096", help="pass sizes (inputs) for the fit")
    parser.add_argument("--fraction", type=float, default=1.0, help="share of the shipped sets gated")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gk-ray-bench-"))
    labels = evalsets.load(SHIPPED).labels
    make_model(work / "artifacts" / "candidate", labels, seed=2)
    evalset = evalset_dir(work, args.fraction)
    n_inputs = len({r["text"] for f in evalsets.load(evalset).files.values() for r in f.rows})
    print(f"intent gate over {n_inputs:,} unique inputs; {os.cpu_count()} CPUs on this machine", flush=True)
    print(f"load average (1, 5, 15 min) at the start: {os.getloadavg()}", flush=True)
    results = gates(work, evalset)
    sizes = [int(s) for s in args.sizes.split(",")]
    seconds = passes(work, sizes, labels)
    # the gate's own pass is one more point of each fit (its time excludes the latency check)
    fits = {k: fit([*sizes, n_inputs], [*seconds[k], results[k]["predict_s"]]) for k in CONFIGS}
    report(results, fits, n_inputs)
    print(f"load average (1, 5, 15 min) at the end: {os.getloadavg()}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
