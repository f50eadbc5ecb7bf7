"""Queue, run and record training runs: every run Gatekeeper invokes is a TrainingRun row with the six
lineage tags, its parameters, metrics, log file and output artifact sha256."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from gatekeeper.clock import utcnow
from gatekeeper.config import Settings
from gatekeeper.db import Database
from gatekeeper.errors import ValidationFailed
from gatekeeper.jobs import queue
from gatekeeper.registry import audit
from gatekeeper.registry import service as registry
from gatekeeper.registry.models import TrainingRun
from gatekeeper.registry.schemas import CandidateCreate
from gatekeeper.training import trainers
from gatekeeper.training.trainers import TrainerSpec

JOB_KIND = "training"
Echo = Callable[[str], None]
_PATH_SUFFIXES = ("_path", "_file", "_dir")


def _resolve_paths(raw: Mapping[str, Any], root: Path) -> dict[str, Any]:
    """Relative paths in a config are relative to the project (evalset root), not the worker's cwd."""
    out = {}
    for key, value in raw.items():
        if key.endswith(_PATH_SUFFIXES) and isinstance(value, str) and not Path(value).is_absolute():
            value = str(root / value)
        out[key] = value
    return out


def build_config(
    spec: TrainerSpec,
    raw: Mapping[str, Any],
    *,
    tags: Mapping[str, str],
    run_id: str,
    output_dir: Path,
    settings: Settings,
) -> Any:
    """The trainer's own config object: data paths from the evalset manifest, then the given options."""
    options = _resolve_paths({k: v for k, v in raw.items() if k != "evalset_dir"}, settings.evalset_root)
    folder = Path(raw.get("evalset_dir") or f"evalsets/{spec.target}")
    folder = folder if folder.is_absolute() else settings.evalset_root / folder
    data = spec.data_from_evalset(folder) if (folder / "manifest.yaml").is_file() else {}
    try:
        return spec.config_class()(
            **{**data, **options, "output_dir": output_dir, "run_id": run_id, "tags": dict(tags)}
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValidationFailed(f"config.{where}: {first['msg']}", field=f"config.{where}") from None


def check_request(trainer: str, tags: Mapping[str, Any]) -> tuple[TrainerSpec, dict[str, str]]:
    """No anonymous runs: refuse before anything is queued or trained."""
    spec = trainers.get(trainer)
    return spec, registry.run_lineage(tags)


@dataclass(frozen=True)
class RunRequest:
    """What a run is asked for: a trainer, its options, the run's lineage tags, and whether to register the
    model it trains (the CLI, the API, the demo and a drift retrain all ask in these words)."""

    trainer: str
    config: Mapping[str, Any]
    tags: Mapping[str, Any]
    register: bool


def create_run(
    session: Session, request: RunRequest, *, actor: str, settings: Settings, enqueue: bool
) -> TrainingRun:
    """Validate everything a run needs, then record it as ``queued`` (and queue a job for the worker)."""
    spec, clean = check_request(request.trainer, request.tags)
    probe = settings.artifact_root / ".config-check"  # never created: only validates the options
    build_config(spec, request.config, tags=clean, run_id="check", output_dir=probe, settings=settings)
    run = registry.record_training_run(
        session,
        target_name=clean["model_target"],
        trainer=request.trainer,
        tags=clean,
        actor=actor,
        status="queued",
        params={"config": dict(request.config), "register": request.register},
    )
    if enqueue:
        queue.enqueue(session, kind=JOB_KIND, ref_id=run.id, now=utcnow(), max_attempts=1)
    return run


def _start(
    db: Database, settings: Settings, run_id: uuid.UUID
) -> tuple[TrainerSpec, dict[str, Any], Path, Path]:
    with db.transaction() as session:
        run = registry.get_training_run(session, run_id, lock=True)
        if run.status != "queued":
            raise ValidationFailed(f"training run {run_id} is {run.status}, not queued")
        run.status, run.started_at = "running", utcnow()
        target = run.target.name
        output = settings.artifact_root / target / f"{run.trainer}-{run.id.hex[:12]}"
        log_path = settings.log_dir / "training" / f"{run.id}.log"
        run.log_path = str(log_path)
        before = {"status": "queued"}
        after = {"status": "running"}
        audit.record(
            session,
            "system",
            "training_run.start",
            "training_run",
            run.id,
            before=before,
            after=after,
        )
        return trainers.get(run.trainer), {"tags": run.tags, **run.params}, output, log_path


def _finish(
    db: Database, settings: Settings, run_id: uuid.UUID, result: Any, output: Path, register: bool
) -> TrainingRun:
    """Succeeded, metrics and output sha, and (optionally) the candidate: one transaction."""
    with db.transaction() as session:
        run = registry.get_training_run(session, run_id, lock=True)
        run.status, run.finished_at = "succeeded", utcnow()
        run.metrics = trainers.summary(result)
        run.output_uri = output.relative_to(settings.artifact_root).as_posix()
        run.output_sha256 = result.artifact_sha256
        before = {"status": "running"}
        after = {"status": "succeeded", "output_sha256": run.output_sha256}
        audit.record(
            session,
            "system",
            "training_run.finish",
            "training_run",
            run.id,
            before=before,
            after=after,
        )
        if register:
            _register_output(session, run, settings)
        session.flush()
        session.expunge(run)
        return run


def _register_output(session: Session, run: TrainingRun, settings: Settings) -> None:
    """Register the run's output as a candidate and note which one on the run's metrics."""
    candidate, _ = registry.register_candidate(
        session,
        spec=CandidateCreate(
            target=run.target.name,
            artifact_uri=run.output_uri,
            artifact_sha256=run.output_sha256,
            tags=run.tags,
            training_run_id=run.id,
            metadata={"trainer": run.trainer},
        ),
        actor=run.created_by,
        settings=settings,
    )
    run.metrics = {
        **run.metrics,
        "registered_candidate_id": str(candidate.id),
        "registered_version": candidate.version,
    }


def mark_failed(session: Session, run_id: str | uuid.UUID, reason: str) -> None:
    run = registry.get_training_run(session, run_id, lock=True)
    if run.status in ("succeeded", "failed"):
        return
    before = run.status
    run.status, run.error, run.finished_at = "failed", reason[:4000], utcnow()
    before_state = {"status": before}
    after = {"status": "failed", "error": reason[:500]}
    audit.record(
        session, "system", "training_run.fail", "training_run", run.id, before=before_state, after=after
    )


def execute(db: Database, settings: Settings, run_id: str | uuid.UUID, *, echo: Echo = print) -> TrainingRun:
    """Run a queued training run to completion, teeing the trainer's log lines to its log file."""
    key = uuid.UUID(str(run_id))
    spec, params, output, log_path = _start(db, settings, key)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("a", encoding="utf-8") as log_file:

        def log(line: str) -> None:
            log_file.write(line + "\n")
            log_file.flush()
            echo(line)

        try:
            config = build_config(
                spec,
                params["config"],
                tags=params["tags"],
                run_id=str(key),
                output_dir=output,
                settings=settings,
            )
            result = spec.train_function()(config, log=log)
        except BaseException as exc:
            shutil.rmtree(output, ignore_errors=True)  # never leave a half-written model behind
            log(f"[FAILED] {type(exc).__name__}: {exc}")
            with db.transaction() as session:
                mark_failed(session, key, f"{type(exc).__name__}: {exc}")
            raise
    return _finish(db, settings, key, result, output, bool(params.get("register")))
