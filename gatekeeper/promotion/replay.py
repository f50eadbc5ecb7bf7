"""Replay the counterfactual set through champion and candidate here, producing real shadow records
(real single-example inference and its latency), for the demo, tests and teams without a serving tap.
The records are dated inside the shadow (from its start to now, server time): replaying cannot make a
shadow older than it is, so on a real clock the verdict comes once min_hours have passed."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from gatekeeper.artifacts.store import local_copy
from gatekeeper.clock import Clock
from gatekeeper.config import Settings
from gatekeeper.db import Database
from gatekeeper.errors import Conflict
from gatekeeper.evaluation import evalset as evalsets
from gatekeeper.evaluation import predictors
from gatekeeper.promotion import shadow
from gatekeeper.promotion.schemas import SLICE_FIELDS, ShadowRecordIn
from gatekeeper.registry import service as registry
from gatekeeper.registry.states import Status

BATCH = 10_000  # one batch (the API's largest): a verdict taken half-way would refuse the rest
WARMUP = 10  # untimed calls per model first: the first calls pay for lazy set-up, not for the model


def _timed(predictor: Any, text: str) -> tuple[str | None, float, bool]:
    started = time.perf_counter()
    try:
        proba = predictor.predict_proba([text])
        label = predictor.labels[int(proba[0].argmax())]
        return label, (time.perf_counter() - started) * 1000.0, False
    except Exception:  # an inference error is exactly what shadow mode is there to count
        return None, (time.perf_counter() - started) * 1000.0, True


def _plan(
    db: Database, settings: Settings, candidate_id: str, actor: str, now: datetime
) -> tuple[Any, Any, Any, str]:
    with db.transaction() as session:
        candidate = registry.get_candidate(session, candidate_id, lock=True)
        if candidate.status == Status.GATE_PASSED.value:
            shadow.start(session, candidate_id=candidate_id, actor=actor, now=now)
        elif candidate.status != Status.SHADOW.value:
            raise Conflict(
                f"candidate is {candidate.status}; replay needs a gate_passed or shadow candidate",
                current_status=candidate.status,
            )
        champion = registry.champion_of(session, candidate.target)
        policy = registry.policy_of(session, candidate.target)
        folder = evalsets.resolve_folder(policy.resolved_evalset_dir(), settings.evalset_root)
        paths = (
            local_copy(candidate.artifact_uri, candidate.artifact_sha256, settings),
            local_copy(champion.artifact_uri, champion.artifact_sha256, settings),
        )
        return paths[0], paths[1], evalsets.load(folder, roles=("replay",)), candidate.target.task


def _both(cand: Any, champ: Any, text: str, cand_first: bool) -> tuple[tuple[str | None, float, bool], ...]:
    """Both models on one text, in the order given: alternated, neither pays for running second."""
    if cand_first:
        cand_out = _timed(cand, text)
        return cand_out, _timed(champ, text)
    champ_out = _timed(champ, text)
    return _timed(cand, text), champ_out


def _score(
    rows: list[dict[str, Any]],
    cand: Any,
    champ: Any,
    *,
    start: datetime,
    end: datetime,
    echo: Callable[[str], None],
) -> list[ShadowRecordIn]:
    for row in rows[:WARMUP]:
        _both(cand, champ, row["text"], cand_first=False)
    step = (end - start) / max(len(rows), 1)
    records = []
    for i, row in enumerate(rows):
        (cand_label, cand_ms, cand_err), (champ_label, champ_ms, champ_err) = _both(
            cand, champ, row["text"], cand_first=i % 2 == 1
        )
        records.append(
            ShadowRecordIn(
                request_id=row["id"],
                ts=start + step * i,
                champion_prediction=champ_label,
                candidate_prediction=cand_label,
                champion_latency_ms=round(champ_ms, 3),
                candidate_latency_ms=round(cand_ms, 3),
                champion_error=champ_err,
                candidate_error=cand_err,
                **{f: row.get(f) for f in SLICE_FIELDS},
            )
        )
        if (i + 1) % 100 == 0:
            echo(f"[SHADOW] replayed {i + 1}/{len(rows)}")
    return records


def replay(
    db: Database,
    settings: Settings,
    candidate_id: str,
    *,
    clock: Clock,
    actor: str,
    limit: int = 500,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Score ``limit`` logged sessions with both models, dated evenly from the shadow's start to now."""
    cand_path, champ_path, loaded, task = _plan(db, settings, candidate_id, actor, clock.now())
    rows = loaded.examples("replay")[:limit]
    if not rows:
        raise Conflict("the target's evalset has no replay file")
    cand, champ = predictors.load(task, cand_path), predictors.load(task, champ_path)
    with db.session() as session:
        stage = shadow.stage_of(session, registry.get_candidate(session, candidate_id).id)
    start = stage.started_at if stage else clock.now()
    records = _score(rows, cand, champ, start=start, end=clock.now(), echo=echo)
    for begin in range(0, len(records), BATCH):
        with db.transaction() as session:
            shadow.record(
                session,
                candidate_id=candidate_id,
                records=records[begin : begin + BATCH],
                actor=actor,
                now=clock.now(),
                settings=settings,
            )
    with db.session() as session:
        return shadow.summary_of(session, registry.get_candidate(session, candidate_id), now=clock.now())
