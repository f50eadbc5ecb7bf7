"""Build and write an evaluation's report from the database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

import reports
from gatekeeper.evaluation import service as evaluations
from gatekeeper.evaluation.models import Evaluation
from gatekeeper.registry import service as registry


def report_of(session: Session, evaluation: Evaluation) -> dict[str, Any]:
    candidate = registry.get_candidate(session, evaluation.candidate_id)
    champion = registry.get_candidate(session, evaluation.champion_id) if evaluation.champion_id else None
    return reports.build(evaluation, candidate, champion, evaluations.decision_of(session, evaluation))


def write_reports(session: Session, evaluation: Evaluation, report_dir: Path) -> dict[str, str]:
    paths = reports.write(report_of(session, evaluation), report_dir / str(evaluation.id))
    evaluation.reports = paths
    return paths
