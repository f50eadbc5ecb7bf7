"""The example browser: evalset rows joined with both models' cached predictions, filtered."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from gatekeeper.config import Settings
from gatekeeper.errors import Conflict
from gatekeeper.evaluation import cache
from gatekeeper.evaluation import evalset as evalsets
from gatekeeper.evaluation import service as evaluations
from gatekeeper.evaluation.models import Evaluation
from gatekeeper.evaluation.modes.slices import dimension_value
from gatekeeper.evaluation.predictions import Predictions
from gatekeeper.registry import service as registry


@dataclass(frozen=True)
class Filters:
    label: str | None = None
    predicted: str | None = None
    lang: str | None = None
    slice: dict[str, str] | None = None  # parsed with slices.parse_slice_key at the edge
    min_confidence: float | None = None
    max_confidence: float | None = None
    disagree: bool = False


def _source_sha(session: Session, candidate_id: Any, evaluation: Evaluation | None) -> str:
    if evaluation is not None and evaluation.mode == "predictions" and evaluation.predictions_sha256:
        return evaluation.predictions_sha256
    return registry.get_candidate(session, candidate_id).artifact_sha256


def _predictions(session: Session, source_sha: str, file_sha: str) -> Predictions | None:
    return cache.lookup(session, source_sha, file_sha)


def _in_slice(row: dict[str, Any], dimensions: dict[str, str]) -> bool:
    return all(dimension_value(row, dimension) == value for dimension, value in dimensions.items())


def _keep(row: dict[str, Any], cand: dict[str, Any], champ: dict[str, Any] | None, f: Filters) -> bool:
    conf = cand.get("confidence")
    checks = [
        f.label is None or row.get("label") == f.label,
        f.predicted is None or cand["prediction"] == f.predicted,
        f.lang is None or row.get("lang") == f.lang,
        f.slice is None or _in_slice(row, f.slice),
        f.min_confidence is None or (conf is not None and conf >= f.min_confidence),
        f.max_confidence is None or (conf is not None and conf <= f.max_confidence),
        not f.disagree or (champ is not None and champ["prediction"] != cand["prediction"]),
    ]
    return all(checks)


def _view(preds: Predictions | None, ident: str) -> dict[str, Any] | None:
    return preds.view(ident) if preds is not None else None


def browse(
    session: Session,
    settings: Settings,
    evaluation: Evaluation,
    *,
    role: str,
    filters: Filters,
    limit: int,
    offset: int,
) -> dict[str, Any]:
    if evaluation.status != "done":
        raise Conflict(f"evaluation is {evaluation.status}; examples are browsable once it is done")
    folder = evalsets.resolve_folder(evaluation.evalset_dir or "", settings.evalset_root)
    loaded = evalsets.load(folder, roles=(role,))
    file = loaded.role(role)
    if file is None:
        return {"total": 0, "items": []}
    cand = _predictions(session, _source_sha(session, evaluation.candidate_id, evaluation), file.sha256)
    champ = None
    if evaluation.champion_id:
        champion_eval = evaluations.latest_done(session, evaluation.champion_id)
        champ = _predictions(
            session, _source_sha(session, evaluation.champion_id, champion_eval), file.sha256
        )
    items = []
    for row in file.rows:
        c, h = _view(cand, row["id"]), _view(champ, row["id"])
        if c is not None and _keep(row, c, h, filters):
            items.append({**row, "candidate": c, "champion": h})
    return {"total": len(items), "items": items[offset : offset + limit]}
