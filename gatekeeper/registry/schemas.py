"""Request and response bodies of the registry API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gatekeeper.readmodel import from_row

Sha256 = Field(pattern=r"^[0-9a-f]{64}$", description="lower-case hex sha256")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TargetCreate(_In):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[a-z][a-z0-9_\-]*$")
    task: Literal["classification", "ranking", "generation"]
    policy: str = Field(min_length=1, max_length=200_000, description="policy YAML (DESIGN section 6)")
    rollback_sla_seconds: int = Field(default=60, ge=1, le=86_400)


class PolicyUpdate(_In):
    policy: str = Field(min_length=1, max_length=200_000)


class TargetRead(BaseModel):
    name: str
    task: str
    policy_version: int
    always_extended_canary: bool
    rollback_sla_seconds: int
    routing_generation: int
    created_at: datetime
    created_by: str
    policy: dict[str, Any]
    champion: dict[str, Any] | None = Field(default=None, description="{id, version} of the champion, if any")
    backtest: dict[str, Any] | None = Field(
        default=None, description="PUT policy only: current vs new abort rules over recent recorded canaries"
    )


class CandidateCreate(_In):
    target: str = Field(min_length=1, max_length=100)
    artifact_uri: str = Field(min_length=1, max_length=2000)
    artifact_sha256: str = Sha256
    # Free-form here so that missing or blank tags produce one 422 listing all of them.
    tags: dict[str, Any] = Field(default_factory=dict)
    training_run_id: uuid.UUID | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class CandidateRead(BaseModel):
    id: uuid.UUID
    target: str
    version: int
    status: str
    artifact_uri: str
    artifact_sha256: str
    tags: dict[str, str]
    training_run_id: uuid.UUID | None
    submitter: str
    metadata: dict[str, Any]
    created_at: datetime
    status_changed_at: datetime


class CandidatePage(BaseModel):
    items: list[CandidateRead]
    next_cursor: str | None


class TrainingRunCreate(_In):
    """Record a run that happened elsewhere (CI), or queue one with ``trainer`` + ``config``."""

    target: str | None = Field(default=None, min_length=1, max_length=100)
    trainer: str = Field(min_length=1, max_length=50)
    tags: dict[str, Any] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    status: Literal["succeeded", "failed", "running"] = "succeeded"
    output_uri: str | None = None
    output_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    log_path: str | None = None
    config: dict[str, Any] | None = Field(default=None, description="queue a run the worker executes")
    register_output: bool = Field(
        default=False, alias="register", description="queued runs: register the output as a candidate"
    )
    started_at: datetime | None = None
    finished_at: datetime | None = None


class TrainingRunRead(BaseModel):
    id: uuid.UUID
    target: str
    trainer: str
    status: str
    tags: dict[str, str]
    params: dict[str, Any]
    metrics: dict[str, Any]
    output_uri: str | None
    output_sha256: str | None
    log_path: str | None
    error: str | None
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    candidate_ids: list[uuid.UUID] = Field(default_factory=list, description="candidates registered from it")


class ReasonIn(_In):
    reason: str = Field(min_length=3, max_length=2000)


class DecisionRead(BaseModel):
    id: uuid.UUID
    candidate_id: uuid.UUID
    stage: str
    verdict: str
    reasons: list[dict[str, Any]]
    details: dict[str, Any]
    actor: str
    created_at: datetime


class Route(BaseModel):
    candidate_id: uuid.UUID
    version: int
    role: Literal["champion", "previous", "canary", "shadow"]
    weight: float


class RoutingRead(BaseModel):
    target: str
    generation: int
    routes: list[Route]


class AuditRead(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    entity_type: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    note: str | None


class WhoAmIRead(BaseModel):
    name: str
    role: str


class AuditVerifyRead(BaseModel):
    ok: bool
    rows: int
    broken_id: int | None
    reason: str | None
    summary: str


class TokenRead(BaseModel):
    name: str
    role: str
    created_at: datetime
    revoked: bool


def candidate_read(c: Any) -> CandidateRead:
    return from_row(CandidateRead, c, target=c.target.name, metadata=c.meta or {})


def training_run_read(r: Any, candidate_ids: list[uuid.UUID] | None = None) -> TrainingRunRead:
    return from_row(TrainingRunRead, r, target=r.target.name, candidate_ids=candidate_ids or [])


def decision_read(d: Any) -> DecisionRead:
    return from_row(DecisionRead, d, reasons=d.reasons or [], details=d.details or {})


def audit_read(e: Any) -> AuditRead:
    return from_row(AuditRead, e)
