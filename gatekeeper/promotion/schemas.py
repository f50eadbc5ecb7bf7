"""Shadow request bodies."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

SLICE_FIELDS = ("lang", "cohort", "device", "catalog_tier", "time_bucket")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ShadowRecordIn(_In):
    request_id: str = Field(min_length=1, max_length=200)
    ts: AwareDatetime
    lang: str | None = Field(default=None, max_length=20)
    cohort: str | None = Field(default=None, max_length=20)
    device: str | None = Field(default=None, max_length=20)
    catalog_tier: str | None = Field(default=None, max_length=20)
    time_bucket: str | None = Field(default=None, max_length=20)
    champion_prediction: str | None = Field(default=None, max_length=10_000)
    candidate_prediction: str | None = Field(default=None, max_length=10_000)
    champion_latency_ms: float = Field(ge=0, allow_inf_nan=False)
    candidate_latency_ms: float = Field(ge=0, allow_inf_nan=False)
    champion_error: bool = False
    candidate_error: bool = False


class ShadowBatch(_In):
    records: list[ShadowRecordIn] = Field(min_length=1, max_length=10_000)


class ShadowSummaryRead(BaseModel):
    """The shadow's verdict with its figures; the figures depend on the policy, so they pass through."""

    model_config = ConfigDict(extra="allow")

    candidate_id: str
    status: str
    started_at: str | None
    ended_at: str | None
    verdict: str
    reasons: list[str] = []
