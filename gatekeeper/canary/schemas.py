"""Canary request/response bodies."""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

INT32_MAX = 2**31 - 1


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MetricWindowIn(_In):
    start: AwareDatetime
    end: AwareDatetime
    group: Literal["canary", "holdout", "baseline"]
    # Stored in INTEGER columns: beyond them Postgres would refuse the row with a 500, so they are 422s.
    requests: int = Field(ge=0, le=INT32_MAX)
    errors: int = Field(ge=0, le=INT32_MAX)
    latency_p99_ms: float = Field(ge=0, allow_inf_nan=False)
    safety: dict[str, float] = Field(default_factory=dict)
    exceptions: dict[str, int] = Field(default_factory=dict)

    @field_validator("safety")
    @classmethod
    def _finite(cls, value: dict[str, float]) -> dict[str, float]:
        bad = [k for k, v in value.items() if not math.isfinite(v)]
        if bad:
            raise ValueError(f"safety metrics must be finite numbers: {', '.join(bad)}")
        return value

    @field_validator("exceptions")
    @classmethod
    def _counts(cls, value: dict[str, int]) -> dict[str, int]:
        if any(v < 0 for v in value.values()):
            raise ValueError("exception counts must be >= 0")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> MetricWindowIn:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if self.end - self.start > timedelta(hours=1):
            raise ValueError("a window spans at most one hour (5-minute windows expected)")
        if self.errors > self.requests:
            raise ValueError(f"errors ({self.errors}) exceed requests ({self.requests})")
        return self


class MetricBatch(_In):
    windows: list[MetricWindowIn] = Field(min_length=1, max_length=5000)


class AbortIn(_In):
    reason: str = Field(min_length=3, max_length=2000)


class ReenableIn(_In):
    reason: str = Field(min_length=3, max_length=2000)
    force: bool = False


class DaemonRead(BaseModel):
    """The canary daemon's lease: no leader until a daemon has ticked once."""

    leader: str | None
    acquired_at: datetime | None = None
    heartbeat_at: datetime | None
    ticks: int | None = None
    age_seconds: float | None


class EvidenceRead(BaseModel):
    """A running stage's evidence: what it has, what it needs, and whether it is held (``starved``)."""

    windows_received: int
    windows_evaluable: int
    canary_requests: int
    holdout_requests: int
    holdout_error_rate: float | None
    need_windows: int
    need_requests: int | None
    enough: bool
    met_at: datetime | None
    since: datetime
    due: bool
    starved: bool
    deadline: datetime


class CanaryRead(BaseModel):
    id: uuid.UUID
    target: str
    candidate_id: uuid.UUID
    candidate_version: int
    champion_id: uuid.UUID | None
    state: str
    extended: bool
    plan: list[dict[str, Any]]
    stage: int
    share: float
    stage_started_at: datetime
    stage_ends_at: datetime
    armed_since: datetime
    baseline_start: datetime
    started_at: datetime
    aborted_at: datetime | None
    finished_at: datetime | None
    promoted_at: datetime | None  # when it reached 100 % (champion)
    bake_until: datetime | None  # while state is ``baking``: judged against the pre-promotion reference
    trigger: dict[str, Any] | None
    reenables: int
    windows: dict[str, int]
    evidence: EvidenceRead | None = None
