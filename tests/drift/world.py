"""The synthetic drift world (a 5-intent router with slice fields, text, one numeric feature) and its
helpers: the drift service tests, ``test_daemon`` and ``test_api`` replay it with the injectable clock.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import func, select

from gatekeeper.config import Settings
from gatekeeper.db import Database
from gatekeeper.drift import ingest as drift_ingest
from gatekeeper.drift import reference as refs
from gatekeeper.drift import references as drift_references
from gatekeeper.drift.windows import Cadence
from gatekeeper.registry import service as registry
from gatekeeper.registry.artifacts import artifact_sha256
from gatekeeper.registry.schemas import CandidateCreate, TargetCreate
from gatekeeper.registry.states import Status
from tests.conftest import POLICY_FILE, TAGS

T0 = datetime(2030, 1, 7, tzinfo=UTC)
HOUR, DAY = timedelta(hours=1), timedelta(days=1)
HOURLY = Cadence(fast=HOUR, settle=timedelta(0), fast_catchup=3 * DAY)
CLASSES = ["product_discovery", "order_tracking", "faq", "return_request", "escalation"]
PRIORS = [0.4, 0.25, 0.15, 0.12, 0.08]
SLICES = {
    "lang": (["en", "ja", "mixed"], [0.55, 0.35, 0.10]),
    "device": (["web", "ios", "android"], [0.5, 0.3, 0.2]),
    "catalog_tier": (["head", "mid", "long"], [0.5, 0.3, 0.2]),
    "cohort": (["new", "returning", "power"], [0.3, 0.5, 0.2]),
    "time_bucket": (["peak", "off_peak"], [0.6, 0.4]),
}
WORDS = [
    "manga", "volume", "order", "where", "return", "refund", "help", "agent", "recommend", "new",
    "series", "ship", "price", "track", "broken", "human", "please", "最新", "巻", "返品",
]  # fmt: skip
MIN_SAMPLES = 100  # synthetic references pin min_samples 100 so an hour of 120 rows counts


# --- the synthetic world ------------------------------------------------------------------------


def rows_from(
    rng: np.random.Generator, n: int, *, shift: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """n requests with their true label; ``shift`` moves one part of the world at a time:
    ``lang`` / ``priors`` (probabilities), ``conf_a`` (confidence Beta(a, 2), default 8),
    ``confuse`` ({class: rate}: that class is predicted as faq at this rate)."""
    shift = dict(shift or {})
    out = []
    labels = rng.choice(CLASSES, size=n, p=shift.get("priors", PRIORS))
    slices = {name: rng.choice(values, size=n, p=shift.get(name, p)) for name, (values, p) in SLICES.items()}
    right = rng.random(n) < 0.9
    noise = rng.choice(CLASSES, size=n)
    conf = rng.beta(shift.get("conf_a", 8.0), 2.0, size=n)
    confuse = shift.get("confuse", {})
    for i in range(n):
        label = str(labels[i])
        pred = label if right[i] else str(noise[i])
        if label in confuse and rng.random() < confuse[label]:
            pred = "faq"
        out.append(
            {
                "label": label,
                "prediction": pred,
                "confidence": float(conf[i]),
                "text": " ".join(rng.choice(WORDS, size=int(rng.integers(3, 9)))),
                "features": {"price": float(rng.normal(20, 5))},
                **{name: str(values[i]) for name, values in slices.items()},
            }
        )
    return out


def reference_frame(seed: int = 0, n: int = 4000) -> Any:
    rows = rows_from(np.random.default_rng(seed), n)
    return refs.frame_from_rows(rows, ["price"])


def traffic(
    rng: np.random.Generator,
    *,
    start: datetime,
    hours: int,
    per_hour: int,
    candidate_id: uuid.UUID,
    shift: Mapping[str, Any] | None = None,
    prefix: str = "r",
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Logged predictions spread over ``hours`` and the true label of each request."""
    logs, truth = [], {}
    for h in range(hours):
        at = start + h * HOUR
        for j, row in enumerate(rows_from(rng, per_hour, shift=shift)):
            rid = f"{prefix}-{at:%Y%m%d%H}-{j}"
            truth[rid] = row.pop("label")
            logs.append(
                {
                    "ts": at + timedelta(seconds=3600 * j / per_hour),
                    "request_id": rid,
                    "candidate_id": candidate_id,
                }
                | row
            )
    return logs, truth


def labels_for(
    logs: list[dict[str, Any]], truth: Mapping[str, str], delay: timedelta
) -> list[dict[str, Any]]:
    return [
        {"request_id": r["request_id"], "label": truth[r["request_id"]], "labelled_at": r["ts"] + delay}
        for r in logs
    ]


def ingest(db: Database, target: str, logs: list[dict[str, Any]], labels: list[dict[str, Any]] = ()) -> None:
    for i in range(0, len(logs), 10_000):
        with db.transaction() as session:
            drift_ingest.ingest_logs(session, target_name=target, rows=logs[i : i + 10_000])
    for i in range(0, len(labels), 10_000):
        with db.transaction() as session:
            drift_ingest.ingest_labels(session, target_name=target, rows=labels[i : i + 10_000])


def make_target(db: Database, name: str = "intent_classifier") -> None:
    policy = POLICY_FILE.read_text().replace("target: intent_classifier", f"target: {name}")
    with db.transaction() as session:
        registry.create_target(
            session, spec=TargetCreate(name=name, task="classification", policy=policy), actor="test"
        )


def make_champion(
    db: Database, settings: Settings, *, target: str = "intent_classifier", config: dict | None = None
) -> uuid.UUID:
    """A registered, gate-passed and promoted candidate; with ``config`` it has an intent training run."""
    folder = settings.artifact_root / f"model-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(uuid.uuid4().bytes * 8)
    tags = {**TAGS, "model_target": target}
    with db.transaction() as session:
        run = None
        if config is not None:
            run = registry.record_training_run(
                session,
                target_name=target,
                trainer="intent",
                tags=tags,
                actor="ci",
                params={"config": config},
            )
        spec = CandidateCreate(
            target=target,
            artifact_uri=folder.name,
            artifact_sha256=artifact_sha256(folder),
            tags=tags,
            training_run_id=run.id if run else None,
        )
        candidate, _ = registry.register_candidate(session, spec=spec, actor="ci", settings=settings)
        registry.transition(session, candidate, Status.EVALUATING, actor="ci")
        registry.transition(session, candidate, Status.GATE_PASSED, actor="ci")
        registry.promote_first(session, candidate_id=candidate.id, reason="first model", actor="admin")
        return candidate.id


def synthetic_reference(db: Database, candidate_id: uuid.UUID, **overrides: Any) -> int:
    with db.transaction() as session:
        candidate = registry.get_candidate(session, candidate_id)
        ref = drift_references.store_reference(
            session,
            candidate=candidate,
            frame=reference_frame(),
            source={"synthetic": True},
            actor="test",
            now=T0,
            overrides={"min_samples": MIN_SAMPLES, **overrides},
        )
        return ref.id


def target_id(db: Database, name: str = "intent_classifier") -> int:
    with db.session() as session:
        return registry.get_target(session, name).id


def count(db: Database, model: Any, *where: Any) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)
