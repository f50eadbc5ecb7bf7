"""Evaluation request and response bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from gatekeeper.evaluation.verdicts import Verdict


class EvaluationCreate(BaseModel):
    """Empty body: Gatekeeper runs the artifact. With predictions: it scores that file (under the root)."""

    model_config = ConfigDict(extra="forbid")
    predictions_uri: str | None = Field(default=None, max_length=2000)
    predictions_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class NeedRead(BaseModel):
    """One comparison the evidence could not decide, and how many more examples would decide it."""

    check: str
    metric: str
    slice: str | None
    need_n: int | None = Field(description="More examples needed at the observed spread; null: none would")
    text: str


class EvaluationRead(BaseModel):
    id: uuid.UUID
    candidate_id: uuid.UUID
    champion_id: uuid.UUID | None
    target: str
    status: str
    mode: str
    policy_version: int
    evalset_dir: str | None
    manifest_version: str | None
    evalset_files: dict[str, Any]
    progress: dict[str, Any]
    decision: dict[str, Any] | None
    verdict: Verdict | None = Field(
        default=None, description="pass, fail or inconclusive (a CI straddles its bound); null until done"
    )
    need: list[NeedRead] = Field(default_factory=list)
    results: dict[str, Any] | None
    error: str | None
    timings: dict[str, Any]
    requested_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class OnlineMetricCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    metric: str = Field(min_length=1, max_length=100)
    value: float = Field(allow_inf_nan=False)
    window_days: int = Field(default=28, ge=1, le=365)


class OnlineMetricRead(BaseModel):
    candidate_id: uuid.UUID
    metric: str
    value: float
    window_days: int
    recorded_by: str
    recorded_at: datetime
