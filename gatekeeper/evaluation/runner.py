"""Run one evaluation: verify the evalset, get both models' predictions (predict once, cached), measure
the five modes, decide, and record the decision with the candidate's new status in one transaction."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalsets.manifest import read_jsonl
from gatekeeper.artifacts.store import local_copy
from gatekeeper.clock import utcnow
from gatekeeper.config import Settings
from gatekeeper.db import Database
from gatekeeper.errors import ValidationFailed
from gatekeeper.evaluation import cache, predictors, resampling
from gatekeeper.evaluation import evalset as evalsets
from gatekeeper.evaluation import service as evaluations
from gatekeeper.evaluation.executors import executor_for
from gatekeeper.evaluation.executors.base import Executor, Model, Ticks
from gatekeeper.evaluation.executors.local import LocalExecutor
from gatekeeper.evaluation.gate import MODE_OF_ROLE
from gatekeeper.evaluation.gate import gate_results as results_of
from gatekeeper.evaluation.predictions import Predictions
from gatekeeper.evaluation.progress import progress_line
from gatekeeper.evaluation.submitted import parse_submitted
from gatekeeper.evaluation.tasks import Task
from gatekeeper.evaluation.tasks.classification import ClassificationTask
from gatekeeper.evaluation.tasks.ranking import RankingTask
from gatekeeper.policy.decide import GateDecision, decide
from gatekeeper.policy.schema import Policy
from gatekeeper.registry import audit
from gatekeeper.registry import service as registry
from gatekeeper.registry.artifacts import artifact_sha256, pickled_files, resolve_under_root
from gatekeeper.registry.states import Status

if TYPE_CHECKING:  # the generation metric stack loads only when a generator is gated
    from gatekeeper.evaluation.tasks.generation import GenerationConfig

LATENCY_KEY = "latency:single-example-cpu"
WRITE_EVERY_S = 0.5
Echo = Callable[[str], None]


@dataclass(frozen=True)
class Source:
    """Where a model's predictions come from: its artifact (run here) or a submitted file."""

    role: str  # candidate | champion
    kind: str  # artifact | predictions
    sha256: str
    path: Path
    base_model: Path | None = None  # generators: the base the adapter applies to


def _unchanged(source: Source, actual: str) -> None:
    if actual != source.sha256:
        raise ValidationFailed(
            f"{source.role} {source.kind} at {source.path} changed since it was registered "
            f"(expected sha256 {source.sha256}, found {actual})",
            field="artifact_uri",
        )


def verified(source: Source) -> Path:
    """Re-hash the artifact or predictions file right before use: registered is not the same as unchanged."""
    _unchanged(source, artifact_sha256(source.path))
    return source.path


def verified_bytes(source: Source) -> bytes:
    """A submitted file's bytes, read once: hashed and then parsed from the same bytes."""
    data = source.path.read_bytes()
    _unchanged(source, hashlib.sha256(data).hexdigest())
    return data


@dataclass
class Plan:
    evaluation_id: uuid.UUID
    task: str
    policy: Policy
    target_id: int
    candidate: Source
    champion: Source | None
    evalset_dir: Path
    timings: dict[str, Any] = field(default_factory=dict)
    loaded: dict[str, Any] = field(default_factory=dict)  # submissions by sha, parsed once per run
    local: LocalExecutor = field(default_factory=LocalExecutor)  # the latency check runs here
    executor: Executor | None = None  # where the prediction passes run (settings.executor)

    def model(self, source: Source) -> Model:
        """The artifact behind ``source``, re-hashed right before a pass uses it."""
        return Model(self.task, verified(source), source.sha256, source.base_model)

    def predictor(self, source: Source) -> Any:
        return self.local.predictor(self.model(source))

    def release(self) -> None:
        self.loaded.clear()
        self.local.release()
        if self.executor is not None:
            self.executor.release()

    def submitted(self, source: Source, evalset: evalsets.EvalSet) -> Predictions:
        """A predictions file, parsed and checked against the whole evalset once per run."""
        if source.sha256 not in self.loaded:
            self.loaded[source.sha256] = parse_submitted(
                verified_bytes(source),
                task=self.task,
                expected_ids=evalset.example_ids(),
                labels=evalset.labels,
            )
        return self.loaded[source.sha256]


class Progress:
    """Write the stage, the current mode's counts and the finished modes to the evaluation row: in its
    own short transaction, at most every ``WRITE_EVERY_S`` (a finished mode always), never inside the
    transaction that records the decision."""

    def __init__(self, db: Database, evaluation_id: uuid.UUID, echo: Echo) -> None:
        self.db, self.evaluation_id, self.echo = db, evaluation_id, echo
        self.modes_done: list[str] = []
        self._last = 0.0

    def phase(self, stage: str) -> None:
        """Start a stage (a model's predictions, the measurements): no mode finished in it yet."""
        self.modes_done = []
        self(stage, force=True)

    def finished(self, stage: str, mode: str, total: int) -> None:
        """A mode is done in this stage: all its ``total`` examples scored."""
        self.modes_done.append(mode)
        self(stage, total, total, mode=mode, force=True)

    def __call__(
        self,
        stage: str,
        done: int | None = None,
        total: int | None = None,
        *,
        mode: str | None = None,
        force: bool = False,
    ) -> None:
        now = time.monotonic()
        complete = done is not None and done == total  # ``finished`` writes that one, with the mode
        if not force and (complete or now - self._last < WRITE_EVERY_S):
            return
        self._last = now
        record = {"stage": stage, "mode": mode, "done": done, "total": total}
        record |= {"modes_done": list(self.modes_done), "at": utcnow().isoformat()}
        with self.db.transaction() as session:
            evaluations.set_progress(session, self.evaluation_id, record)
        self.echo(f"[EVAL] {progress_line(record)}")


def _champion_source(session: Any, settings: Settings, champion: Any) -> Source:
    """A champion's predictions come from where its last passing evaluation got them."""
    last = evaluations.latest_done(session, champion.id)
    if last is not None and last.mode == "predictions" and last.predictions_sha256:
        return Source(
            "champion",
            "predictions",
            last.predictions_sha256,
            resolve_under_root(last.predictions_uri or "", settings.artifact_root),
        )
    return _artifact_source("champion", champion, settings)


def _artifact_source(role: str, candidate: Any, settings: Settings) -> Source:
    path = local_copy(candidate.artifact_uri, candidate.artifact_sha256, settings)
    return Source(role, "artifact", candidate.artifact_sha256, path, _base_model(candidate, path, settings))


def _base_model(candidate: Any, path: Path, settings: Settings) -> Path | None:
    """A generator adapter's base: ``metadata.base_model`` or its adapter_config, under the artifact root."""
    if candidate.target.task != "generation":
        return None
    base = (candidate.meta or {}).get("base_model")
    config = path / "adapter_config.json"
    if not base and config.is_file():
        base = json.loads(config.read_text(encoding="utf-8")).get("base_model_name_or_path")
    if not base:
        return None
    resolved = resolve_under_root(str(base), settings.artifact_root)
    if pickled_files(resolved):
        raise ValidationFailed(
            f"the base model at {base} contains pickled weights", field="metadata.base_model"
        )
    return resolved


def start(db: Database, settings: Settings, evaluation_id: uuid.UUID) -> Plan:
    with db.transaction() as session:
        evaluation = evaluations.get_evaluation(session, evaluation_id, lock=True)
        if evaluation.status not in ("queued", "running"):
            raise ValidationFailed(f"evaluation is already {evaluation.status}")
        evaluation.status, evaluation.started_at = "running", evaluation.started_at or utcnow()
        evaluations.changed(session, evaluation.id)
        candidate = registry.get_candidate(session, evaluation.candidate_id)
        if evaluation.mode == "predictions":
            cand_source = Source(
                "candidate",
                "predictions",
                evaluation.predictions_sha256 or "",
                resolve_under_root(evaluation.predictions_uri or "", settings.artifact_root),
            )
        else:
            cand_source = _artifact_source("candidate", candidate, settings)
        champion = registry.get_candidate(session, evaluation.champion_id) if evaluation.champion_id else None
        return Plan(
            evaluation.id,
            candidate.target.task,
            registry.policy_of(session, candidate.target, evaluation.policy_version),
            candidate.target_id,
            cand_source,
            _champion_source(session, settings, champion) if champion else None,
            evaluations.evalset_path(settings, evaluation.evalset_dir or ""),
        )


def load_evalset(db: Database, plan: Plan) -> evalsets.EvalSet:
    loaded = evalsets.load(plan.evalset_dir)
    with db.transaction() as session:
        evaluation = evaluations.get_evaluation(session, plan.evaluation_id)
        evaluation.manifest_version = loaded.version
        evaluation.evalset_files = {
            name: {"sha256": f.sha256, "role": f.role, "rows": len(f.rows)}
            for name, f in loaded.files.items()
        }
    return loaded


# --- predictions: cached per (source sha, file sha) ------------------------------------------------


def predictions_for(
    db: Database, plan: Plan, source: Source, evalset: evalsets.EvalSet, progress: Progress
) -> Predictions:
    """A model's predictions, mode by mode (one evalset file each), computing only what the cache lacks
    in one pass; each file is cached as soon as its last unit is done."""
    files = sorted(evalset.files.values(), key=lambda f: evalsets.EVAL_ROLES.index(f.role))
    have = cache.cached(db, source.sha256, [f.sha256 for f in files])
    stage = f"{source.role}: predicting"
    progress.phase(stage)
    missing = [f for f in files if f.sha256 not in have]
    announced: list[str] = []

    def announce() -> None:
        """Report finished modes in mode order, however the executor's files complete."""
        for f in files[len(announced) :]:
            if f.sha256 not in have:
                return
            announced.append(f.sha256)
            progress.finished(stage, MODE_OF_ROLE[f.role], len(f.rows))

    def finished(index: int, preds: Predictions) -> None:
        f = missing[index]
        have[f.sha256] = preds
        cache.store(db, source.sha256, f.sha256, f.name, preds=preds)
        announce()

    announce()
    _compute(plan, source, evalset, missing, _ticker(progress, stage, missing), finished)
    return Predictions.merge(have[f.sha256] for f in files)


def products_of(evalset: evalsets.EvalSet) -> dict[str, Any]:
    """A ranking evalset's catalogue (role ``products``), verified with the rest of the manifest."""
    name = next((n for n, e in evalset.manifest["files"].items() if e["role"] == "products"), None)
    return {row["doc_id"]: row for row in read_jsonl(evalset.folder / name)} if name else {}


def _ticker(progress: Progress, stage: str, files: list[evalsets.EvalFile]) -> Ticks:
    return lambda index, done, total: progress(stage, done, total, mode=MODE_OF_ROLE[files[index].role])


def _compute(
    plan: Plan,
    source: Source,
    evalset: evalsets.EvalSet,
    files: list[evalsets.EvalFile],
    tick: Ticks,
    finished: Callable[[int, Predictions], None],
) -> None:
    """A submission's rows per file, or one pass of the artifact over the files on the executor."""
    if source.kind == "predictions":
        for index, f in enumerate(files):
            finished(index, plan.submitted(source, evalset).subset(r["id"] for r in f.rows))
        return
    if not files:
        return
    products = products_of(evalset) if plan.task == "ranking" else None
    works = [predictors.split(plan.task, f.rows, labels=evalset.labels, products=products) for f in files]
    executor = plan.executor or plan.local

    def done(index: int, outputs: list[Any]) -> None:
        finished(index, predictors.assemble(works[index], outputs))

    executor.run(plan.model(source), works, tick, done)


def latency_for(
    db: Database,
    plan: Plan,
    source: Source,
    evalset: evalsets.EvalSet,
    preds: Predictions,
    progress: Progress,
) -> list[float] | None:
    """Single-example CPU latency of an artifact (cached), or the latencies a submission reported."""
    golden_ids = [r["id"] for r in evalset.examples("golden")]
    if source.kind == "predictions":
        values = [preds.latency(i) for i in golden_ids]
        return [v for v in values if v is not None] or None
    n = plan.policy.golden.latency_samples
    key = f"{LATENCY_KEY}:{n}"  # a policy asking for more samples measures again
    have = cache.cached_payload(db, source.sha256, key)
    if have is None:
        progress(f"{source.role}: measuring single-example latency ({n} calls)", force=True)
        samples = predictors.latency_samples(
            plan.predictor(source),
            plan.task,
            evalset.examples("golden"),
            n=n,
            products=products_of(evalset) if plan.task == "ranking" else None,
        )
        if samples is None:
            return None
        have = {"samples_ms": samples}
        cache.store(db, source.sha256, key, "latency", payload=have)
    return list(have["samples_ms"])


# --- finishing ------------------------------------------------------------------------------------


def finish(db: Database, plan: Plan, results: dict[str, Any], decision: GateDecision) -> None:
    """Decision, evaluation result and the candidate's status change: one transaction."""
    with db.transaction() as session:
        evaluation = evaluations.get_evaluation(session, plan.evaluation_id, lock=True)
        if evaluation.status != "running":
            raise ValidationFailed(f"evaluation became {evaluation.status} while running; result discarded")
        candidate = registry.get_candidate(session, evaluation.candidate_id, lock=True)
        row = registry.record_decision(
            session,
            candidate=candidate,
            stage="offline",
            verdict=decision.verdict,
            actor="system",
            reasons=[
                r.to_dict() for r in decision.hard_failures + decision.soft_flags + decision.inconclusive
            ],
            details={"evaluation_id": str(evaluation.id), **decision.to_dict()},
        )
        evaluation.results, evaluation.decision_id = results, row.id
        evaluation.status, evaluation.finished_at = "done", utcnow()
        evaluation.timings = plan.timings
        evaluation.progress = {"stage": "done", "at": utcnow().isoformat()}
        evaluations.changed(session, evaluation.id)
        to = gate_status(decision)
        registry.transition(
            session, candidate, to, actor="system", details={"evaluation_id": str(evaluation.id)}
        )
        after = {"verdict": decision.verdict, "summary": decision.summary}
        _audit(session, evaluation.id, "evaluation.finish", after)


def gate_status(decision: GateDecision) -> Status:
    """Where the gate leaves the candidate: promotable, held for more evidence, or refused."""
    if decision.promotable:
        return Status.GATE_PASSED
    return Status.GATE_INCONCLUSIVE if decision.verdict == "inconclusive" else Status.GATE_FAILED


def fail_in(session: Any, evaluation_id: str | uuid.UUID, reason: str) -> None:
    """Mark an evaluation errored and hand the candidate back (``registered``) for another try."""
    evaluation = evaluations.get_evaluation(session, evaluation_id, lock=True)
    if evaluation.status in ("done", "error"):
        return
    evaluation.status, evaluation.error, evaluation.finished_at = "error", reason[:4000], utcnow()
    evaluation.progress = {"stage": "error", "at": utcnow().isoformat()}
    evaluations.changed(session, evaluation.id)
    candidate = registry.get_candidate(session, evaluation.candidate_id, lock=True)
    if candidate.status == Status.EVALUATING.value:
        registry.transition(
            session, candidate, Status.REGISTERED, actor="system", note=f"evaluation error: {reason[:300]}"
        )
    _audit(session, evaluation.id, "evaluation.error", {"error": reason[:1000]})


def _audit(session: Any, evaluation_id: uuid.UUID, action: str, after: dict[str, Any]) -> None:
    audit.record(session, "system", action, "evaluation", evaluation_id, after=after)


def _timed(plan: Plan, name: str, started: float) -> None:
    plan.timings[name] = round(time.perf_counter() - started, 3)


def _correlation_pairs(db: Database, plan: Plan) -> list[dict[str, Any]]:
    with db.session() as session:
        return evaluations.correlation_pairs(
            session,
            target_id=plan.target_id,
            window=plan.policy.correlation.window,
            online_metric=plan.policy.correlation.online_metric,
            primary_metric=plan.policy.primary_metric,
        )


def _predict(
    db: Database, plan: Plan, loaded: evalsets.EvalSet, progress: Progress
) -> tuple[Predictions, list[float] | None, Predictions | None]:
    """The candidate's predictions and latency, then the champion's, each timed; the models are freed
    before the statistics."""
    t = time.perf_counter()
    candidate = predictions_for(db, plan, plan.candidate, loaded, progress)
    _timed(plan, "candidate_predictions_s", t)
    t = time.perf_counter()
    latency = latency_for(db, plan, plan.candidate, loaded, candidate, progress)
    _timed(plan, "latency_s", t)
    t = time.perf_counter()
    champion = predictions_for(db, plan, plan.champion, loaded, progress) if plan.champion else None
    plan.release()
    _timed(plan, "champion_predictions_s", t)
    return candidate, latency, champion


def run(
    db: Database,
    settings: Settings,
    evaluation_id: str | uuid.UUID,
    *,
    echo: Echo = print,
    executor: Executor | None = None,
) -> GateDecision:
    """The whole evaluation; any exception leaves the candidate as it was before (see ``fail``).
    ``executor`` overrides the one the settings name."""
    began = time.perf_counter()
    plan = start(db, settings, uuid.UUID(str(evaluation_id)))
    plan.executor = executor or executor_for(settings, plan.local)
    plan.timings["executor"] = plan.executor.name
    progress = Progress(db, plan.evaluation_id, echo)
    progress("verifying the evalset against its manifest", force=True)
    t = time.perf_counter()
    loaded = load_evalset(db, plan)
    _timed(plan, "evalset_s", t)
    candidate, latency, champion = _predict(db, plan, loaded, progress)
    progress.phase("measuring")
    t = time.perf_counter()
    pairs = _correlation_pairs(db, plan)
    with resampling.sharded(plan.executor.map_shards):  # where the shards run, never what they give
        results = gate_results(plan, loaded, candidate, champion, latency, pairs, settings, progress)
    decision = decide(results, plan.policy)
    _timed(plan, "statistics_s", t)
    plan.timings["total_s"] = round(time.perf_counter() - began, 3)
    finish(db, plan, results, decision)
    echo(f"[EVAL] {decision.summary}")
    return decision


def generation_config(plan: Plan, loaded: evalsets.EvalSet, settings: Settings) -> GenerationConfig:
    """Read the generator evalset's tool schemas and promptfoo assertions, load the scorer and the judge.

    Generation's metric stack (BERTScore, RAGAS, promptfoo) loads only when a generator is gated.
    """
    from gatekeeper.evaluation.metrics.generation import default_bert_scorer, schemas_from_tools
    from gatekeeper.evaluation.metrics.promptfoo_runner import load_default_asserts
    from gatekeeper.evaluation.metrics.ragas_metrics import JudgeConfig
    from gatekeeper.evaluation.tasks.generation import GenerationConfig

    tools_file = loaded.folder / "tools.json"
    tools = json.loads(tools_file.read_text(encoding="utf-8")) if tools_file.is_file() else None
    asserts_file = loaded.folder / "promptfoo_asserts.yaml"
    judge = None
    if settings.judge_base_url:
        judge = JudgeConfig(
            base_url=settings.judge_base_url,
            model=settings.judge_model,
            api_key=settings.judge_api_key,
            repeats=plan.policy.generation.judge_repeats,
        )
    return GenerationConfig(
        tool_schemas=(schemas_from_tools(tools) if tools is not None else None) or {},
        default_asserts=load_default_asserts(asserts_file) if asserts_file.is_file() else [],
        scorer=default_bert_scorer(),
        judge=judge,
    )


def task_of(
    plan: Plan,
    loaded: evalsets.EvalSet,
    candidate: Predictions,
    champion: Predictions | None,
    settings: Settings,
) -> Task:
    """The task that turns both models' predictions into the columns the modes measure."""
    if plan.task == "classification":
        critical = list(plan.policy.golden.critical_classes)
        return ClassificationTask(loaded, candidate, champion, critical)
    if plan.task == "ranking":
        return RankingTask(candidate, champion)
    from gatekeeper.evaluation.tasks import generation

    return generation.measure(loaded, candidate, champion, generation_config(plan, loaded, settings))


def gate_results(
    plan: Plan,
    loaded: evalsets.EvalSet,
    candidate: Predictions,
    champion: Predictions | None,
    latency: list[float] | None,
    pairs: list[dict[str, Any]],
    settings: Settings,
    progress: Progress,
) -> dict[str, Any]:
    return results_of(
        task_of(plan, loaded, candidate, champion, settings),
        loaded,
        plan.policy,
        latency_ms=latency,
        correlation_pairs=pairs,
        n_resamples=settings.bootstrap_resamples,
        on_mode=lambda mode, examples: progress.finished("measuring", mode, examples),
    )
