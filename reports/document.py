"""The canonical report: one schema-versioned JSON document per evaluation, from which the Markdown
comment, the HTML archive page and the dashboard are all rendered."""

from __future__ import annotations

from typing import Any

SCHEMA_VERSION = 1


def _model(candidate: Any | None) -> dict[str, Any] | None:
    if candidate is None:
        return None
    return {
        "id": str(candidate.id),
        "version": candidate.version,
        "status": candidate.status,
        "artifact_uri": candidate.artifact_uri,
        "artifact_sha256": candidate.artifact_sha256,
        "tags": candidate.tags,
        "training_run_id": str(candidate.training_run_id) if candidate.training_run_id else None,
    }


def build(evaluation: Any, candidate: Any, champion: Any | None, decision: Any | None) -> dict[str, Any]:
    """Everything a reviewer needs, with ids and shas so every number traces back to its inputs."""
    return {
        "schema_version": SCHEMA_VERSION,
        "evaluation": {
            "id": str(evaluation.id),
            "status": evaluation.status,
            "mode": evaluation.mode,
            "target": candidate.target.name,
            "task": candidate.target.task,
            "policy_version": evaluation.policy_version,
            "requested_by": evaluation.requested_by,
            "created_at": evaluation.created_at.isoformat(),
            "finished_at": evaluation.finished_at.isoformat() if evaluation.finished_at else None,
            "timings": evaluation.timings or {},
            "error": evaluation.error,
            "predictions_sha256": evaluation.predictions_sha256,
        },
        "evalset": {
            "dir": evaluation.evalset_dir,
            "version": evaluation.manifest_version,
            "files": evaluation.evalset_files or {},
        },
        "candidate": _model(candidate),
        "champion": _model(champion),
        "decision": (decision.details or {})
        | {"id": str(decision.id), "verdict": decision.verdict, "created_at": decision.created_at.isoformat()}
        if decision
        else None,
        "results": evaluation.results or {},
    }
