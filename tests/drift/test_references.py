"""Drift references: the champion's reference from the evalset holdout and its cached predictions,
versioned per policy; threshold overrides validated like the policy."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score
from sqlalchemy import select

from evalsets.manifest import load_manifest
from gatekeeper.db import Database
from gatekeeper.drift import references as drift_references
from gatekeeper.drift.models import DriftReference
from gatekeeper.drift.stats import ReferenceProfile
from gatekeeper.errors import ValidationFailed
from gatekeeper.evaluation.models import PredictionSet
from gatekeeper.evaluation.predictions import Predictions
from gatekeeper.registry import service as registry
from gatekeeper.registry.models import AuditEvent
from tests.conftest import POLICY_FILE, ROOT
from tests.drift.world import count, make_champion, make_target, synthetic_reference


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
