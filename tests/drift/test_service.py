"""Drift hub service on both engines: ingestion (duplicates never double-counted, labels before or after
their log), the champion's reference from the evalset holdout and its cached predictions, windows
stored per kind, retention.

The synthetic world here (a 5-intent router with slice fields, text, one numeric feature) is also what
``test_daemon`` and ``test_api`` replay with the injectable clock.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import f1_score
from sqlalchemy import func, select

from evalsets.manifest import load_manifest
from gatekeeper.config import Settings
from gatekeeper.db import Database
from gatekeeper.drift import ingest as drift_ingest
from gatekeeper.drift import reference as refs
from gatekeeper.drift import references as drift_references
from gatekeeper.drift import stats
from gatekeeper.drift import windows as drift_windows
from gatekeeper.drift.models import DriftLabel, DriftReference, DriftResult, PredictionLog
from gatekeeper.drift.stats import ReferenceProfile
from gatekeeper.drift.windows import Cadence
from gatekeeper.errors import ValidationFailed
from gatekeeper.evaluation.models import PredictionSet
from gatekeeper.evaluation.predictions import Predictions
from gatekeeper.registry import service as registry
from gatekeeper.registry.artifacts import artifact_sha256
from gatekeeper.registry.models import AuditEvent
from gatekeeper.registry.schemas import CandidateCreate, TargetCreate
from gatekeeper.registry.states import Status
from tests.conftest import POLICY_FILE, ROOT, TAGS

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
        candidate, _ = registry.register_candidate(
            session, spec=spec, actor="ci", artifact_root=settings.artifact_root
        )
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


@pytest.fixture
def champion(db: Database, settings: Settings) -> uuid.UUID:
    make_target(db)
    cid = make_champion(db, settings)
    synthetic_reference(db, cid)
    return cid


# --- ingestion ----------------------------------------------------------------------------------


def test_duplicates_are_ignored_and_never_double_counted(db, champion) -> None:
    logs, truth = traffic(np.random.default_rng(1), start=T0, hours=1, per_hour=50, candidate_id=champion)
    with db.transaction() as session:
        first = drift_ingest.ingest_logs(session, target_name="intent_classifier", rows=logs[:30] + logs[:5])
    assert (first.received, first.accepted, first.duplicates) == (35, 30, 5)
    resent = [{**row, "prediction": "escalation"} for row in logs[20:]]  # a retry overlapping the first batch
    with db.transaction() as session:
        second = drift_ingest.ingest_logs(session, target_name="intent_classifier", rows=resent)
    assert (second.accepted, second.duplicates) == (20, 10)
    assert count(db, PredictionLog) == 50
    with db.session() as session:  # the first write of a request wins
        kept = session.scalar(
            select(PredictionLog.prediction).where(PredictionLog.request_id == logs[25]["request_id"])
        )
    assert kept == logs[25]["prediction"]

    with db.session() as session:
        frame = drift_windows.log_frame(session, target_id(db), T0, T0 + HOUR, ["price"])
    assert len(frame) == 50 and frame["features.price"].notna().all()


def test_labels_replace_and_pick_up_the_served_prediction_either_way_round(db, champion) -> None:
    logs, truth = traffic(np.random.default_rng(2), start=T0, hours=1, per_hour=20, candidate_id=champion)
    early = labels_for(logs[:5], truth, timedelta(minutes=5))
    with db.transaction() as session:  # labels before their logs: kept, no prediction yet
        got = drift_ingest.ingest_labels(session, target_name="intent_classifier", rows=early)
    assert (got.accepted, got.replaced, got.matched) == (5, 0, 0)
    ingest(db, "intent_classifier", logs)
    late = labels_for(logs[3:], truth, timedelta(hours=2))
    late[0] = {**late[0], "label": "escalation"}  # a correction of an earlier label
    with db.transaction() as session:
        got = drift_ingest.ingest_labels(session, target_name="intent_classifier", rows=late + late[-1:])
    assert (got.received, got.accepted, got.replaced, got.matched) == (18, 15, 2, 17)
    assert count(db, DriftLabel) == 20
    with db.session() as session:
        stored = {r.request_id: r for r in session.scalars(select(DriftLabel))}
    served = {r["request_id"]: r["prediction"] for r in logs}
    assert all(stored[rid].prediction == served[rid] for rid in served)  # back-filled and copied
    assert all(stored[rid].candidate_id == champion for rid in served)
    assert stored[logs[3]["request_id"]].label == "escalation"


def test_bad_rows_refuse_the_whole_batch(db, champion) -> None:
    logs, _ = traffic(np.random.default_rng(3), start=T0, hours=1, per_hour=5, candidate_id=champion)
    logs[3]["confidence"] = 1.5
    with pytest.raises(ValidationFailed) as err, db.transaction() as session:
        drift_ingest.ingest_logs(session, target_name="intent_classifier", rows=logs)
    assert (err.value.fields["row"], err.value.fields["field"]) == (3, "confidence")
    assert count(db, PredictionLog) == 0


# --- the reference ------------------------------------------------------------------------------


def _cache_predictions(db: Database, source_sha: str, accuracy: float = 0.85) -> tuple[list, list, list]:
    """Synthetic champion predictions on the shipped holdout, stored as the runner would cache them."""
    folder = ROOT / "evalsets" / "intent_classifier"
    from evalsets.manifest import read_jsonl

    holdout = read_jsonl(folder / "holdout.jsonl")
    labels = load_manifest(folder)["labels"]
    rng = np.random.default_rng(4)
    y = [r["label"] for r in holdout]
    pred = [t if rng.random() < accuracy else str(rng.choice(labels)) for t in y]
    conf = rng.beta(6, 2, size=len(y)).round(4).tolist()
    sha = load_manifest(folder)["files"]["holdout.jsonl"]["sha256"]
    payload = Predictions([r["id"] for r in holdout], pred, conf).to_payload()
    with db.transaction() as session:
        session.add(
            PredictionSet(
                source_sha256=source_sha, file_sha256=sha, file_name="holdout.jsonl", payload=payload
            )
        )
    return y, pred, holdout


def test_on_promoted_builds_a_versioned_reference_from_the_holdout(db, settings) -> None:
    make_target(db)
    cid = make_champion(db, settings)
    with db.transaction() as session:  # nothing cached yet: no reference, nothing written, no error
        assert (
            drift_references.on_promoted(
                session, candidate=registry.get_candidate(session, cid), settings=settings
            )
            is None
        )
    assert count(db, DriftReference) == 0

    with db.session() as session:
        sha = registry.get_candidate(session, cid).artifact_sha256
    y, pred, holdout = _cache_predictions(db, sha)
    with db.transaction() as session:
        ref = drift_references.on_promoted(
            session, candidate=registry.get_candidate(session, cid), settings=settings
        )
        assert ref is not None
        ref_id, thresholds, source = ref.id, ref.thresholds, ref.source
        profile = ReferenceProfile.from_dict(ref.profile)
        metrics = ref.class_metrics
    assert profile.n == len(holdout) == 10_000
    assert set(profile.categorical) == {"lang", "cohort", "device", "catalog_tier", "time_bucket"}
    assert (
        profile.text_feature == "text"
        and profile.text is not None
        and profile.confidence_field == "confidence"
    )
    assert profile.categorical["lang"].as_mapping() == {
        k: sum(r["lang"] == k for r in holdout) for k in {r["lang"] for r in holdout}
    }
    assert profile.labels is not None and sum(profile.labels.counts) == 10_000
    assert profile.reference_f1 == pytest.approx(f1_score(y, pred, average="macro"), abs=1e-12)
    esc = [i for i, t in enumerate(y) if t == "escalation"]
    assert metrics["escalation"]["recall"] == pytest.approx(np.mean([pred[i] == "escalation" for i in esc]))
    assert thresholds["psi"] == 0.2 and thresholds["label_days"] == 7 and thresholds["min_samples"] == 200
    assert thresholds["safety_classes"] == ["escalation", "return_request"]
    assert source["holdout_sha256"] and source["predictions_source_sha256"] == sha

    with db.transaction() as session:  # idempotent: the same inputs give the same reference
        again = drift_references.on_promoted(
            session, candidate=registry.get_candidate(session, cid), settings=settings
        )
        assert again is not None and again.id == ref_id
    with db.transaction() as session:  # a new policy version pins new thresholds in a new version
        text = POLICY_FILE.read_text().replace("psi: 0.2,", "psi: 0.25,")
        registry.update_policy(session, target_name="intent_classifier", text=text, actor="admin")
    with db.transaction() as session:
        newer = drift_references.on_promoted(
            session, candidate=registry.get_candidate(session, cid), settings=settings
        )
        assert newer is not None and (newer.version, newer.policy_version) == (2, 2)
        assert newer.thresholds["psi"] == 0.25
        current = drift_references.current_reference(
            session, registry.get_target(session, "intent_classifier")
        )
        assert current is not None and current.id == newer.id
    with db.session() as session:
        actions = session.scalars(select(AuditEvent.action).where(AuditEvent.entity_id == str(cid))).all()
    assert actions.count("drift.reference.create") == 2


def test_thresholds_overrides_are_validated_like_the_policy(db, settings) -> None:
    make_target(db)
    cid = make_champion(db, settings)
    with pytest.raises(ValidationFailed, match="drift.psi"):
        synthetic_reference(db, cid, psi=-1)
    assert count(db, DriftReference) == 0


# --- windows ------------------------------------------------------------------------------------


def test_windows_are_stored_once_per_kind_and_match_the_statistics(db, champion) -> None:
    rng = np.random.default_rng(5)
    logs, truth = traffic(rng, start=T0, hours=3, per_hour=120, candidate_id=champion)
    ingest(db, "intent_classifier", logs, labels_for(logs, truth, timedelta(minutes=30)))
    now = T0 + DAY + timedelta(minutes=1)
    with db.transaction() as session:
        ref = session.scalar(select(DriftReference))
        stored = drift_windows.compute_windows(session, ref=ref, now=now, cadence=HOURLY)
        assert (
            drift_windows.compute_windows(session, ref=ref, now=now, cadence=HOURLY) == []
        )  # nothing pending
    kinds = sorted((r.kind, r.window_start) for r in stored)
    fast = [(k, T0 + h * HOUR) for k in ("input", "prediction") for h in range(24)]
    assert kinds == sorted(fast + [("label", T0), ("concept", T0)])

    with db.session() as session:
        ref = session.scalar(select(DriftReference))
        first = session.scalar(
            select(DriftResult).where(DriftResult.kind == "input", DriftResult.window_start == T0)
        )
        label = session.scalar(select(DriftResult).where(DriftResult.kind == "label"))
        concept = session.scalar(select(DriftResult).where(DriftResult.kind == "concept"))
        empty = session.scalar(
            select(DriftResult).where(DriftResult.kind == "input", DriftResult.window_start == T0 + 5 * HOUR)
        )
        profile = drift_references.profile_of(ref)
    hour0 = [r for r in logs if r["ts"] < T0 + HOUR]
    assert first.n == 120 and not first.breached
    lang = profile.categorical["lang"]
    current = stats.align_counts(lang.categories, stats.category_counts([r["lang"] for r in hour0]))
    lang_psi = stats.psi_from_counts([*lang.counts, 0], current)
    assert first.figures["features"]["lang"] == pytest.approx(lang_psi, rel=1e-12)
    assert label.n == 360 and concept.n == 360 and label.value > 0.01
    y = [truth[r["request_id"]] for r in logs]
    p = [r["prediction"] for r in logs]
    assert concept.figures["f1"] == pytest.approx(f1_score(y, p, average="macro"), abs=1e-12)
    assert concept.value == pytest.approx(profile.reference_f1 - concept.figures["f1"], abs=1e-12)
    assert empty.n == 0 and empty.value is None and not empty.breached

    with db.session() as session:  # on demand: the same arithmetic over a trailing window, not stored
        live = drift_windows.live_figures(session, ref=ref, now=T0 + HOUR, cadence=HOURLY)
    assert live["input"]["n"] == 120 and live["input"]["value"] == pytest.approx(first.value, rel=1e-12)
    assert live["label"]["n"] == live["concept"]["n"] == 60  # labelled within the hour: requests of 0-30 min


def test_retention_drops_old_logs_and_labels_but_keeps_results(db, champion) -> None:
    logs, truth = traffic(np.random.default_rng(6), start=T0, hours=2, per_hour=10, candidate_id=champion)
    ingest(db, "intent_classifier", logs, labels_for(logs, truth, timedelta(0)))
    cadence = Cadence(log_retention=timedelta(hours=1), label_retention=timedelta(hours=30))
    with db.transaction() as session:
        gone = drift_windows.purge(session, target_id=target_id(db), now=T0 + 2 * HOUR, cadence=cadence)
    assert gone == (10, 0)
    with db.transaction() as session:
        assert drift_windows.purge(session, target_id=target_id(db), now=T0 + 31 * HOUR, cadence=cadence) == (
            10,
            10,
        )


def test_floor_time_aligns_windows_on_the_epoch() -> None:
    at = datetime(2030, 1, 7, 13, 47, 12, tzinfo=UTC)
    assert drift_windows.floor_time(at, timedelta(minutes=5)) == datetime(2030, 1, 7, 13, 45, tzinfo=UTC)
    assert drift_windows.floor_time(at, DAY) == datetime(2030, 1, 7, tzinfo=UTC)
    assert drift_windows.floor_time(at, HOUR) == datetime(2030, 1, 7, 13, tzinfo=UTC)
