"""Drift hub request and response bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

MAX_BATCH = 10_000
# The bulk route's two bodies (drift/bulk.py); the typed client sends them too.
JSONL_MEDIA_TYPE, ARROW_MEDIA_TYPE = "application/x-ndjson", "application/vnd.apache.arrow.stream"
# A logged prediction's limits, shared by the JSON model below and the bulk path's decoder (drift/bulk.py).
REQUEST_ID_MAX, NAME_MAX, SLICE_MAX, TEXT_MAX, FEATURES_MAX = 200, 100, 50, 4000, 100
SLICE_FIELDS = ("lang", "cohort", "device", "catalog_tier", "time_bucket")  # the slices a log may carry
Name = Field(min_length=1, max_length=NAME_MAX)
Slice = Field(default=None, min_length=1, max_length=SLICE_MAX)
FeatureValue = float | int | str | bool | None


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PredictionLogIn(_In):
    """One served prediction, as the serving layer logs it."""

    ts: AwareDatetime
    request_id: str = Field(min_length=1, max_length=REQUEST_ID_MAX)
    candidate_id: uuid.UUID
    features: dict[str, FeatureValue] = Field(default_factory=dict, max_length=FEATURES_MAX)
    prediction: str = Name
    confidence: float = Field(ge=0.0, le=1.0, allow_inf_nan=False)
    lang: str | None = Slice
    cohort: str | None = Slice
    device: str | None = Slice
    catalog_tier: str | None = Slice
    time_bucket: str | None = Slice
    text: str | None = Field(default=None, max_length=TEXT_MAX)


class LabelIn(_In):
    request_id: str = Field(min_length=1, max_length=200)
    label: str = Name
    labelled_at: AwareDatetime


class IngestRead(BaseModel):
    received: int
    accepted: int
    duplicates: int = Field(description="rows whose request_id was already stored or repeated in the batch")


class LabelIngestRead(BaseModel):
    received: int
    accepted: int
    replaced: int = Field(description="labels that replaced an earlier label for the same request_id")
    matched: int = Field(description="labels whose served prediction is known (they count for concept drift)")


class AckIn(_In):
    reason: str = Field(min_length=1, max_length=2000)
    seasonal: bool = False
    until: AwareDatetime | None = Field(
        default=None, description="seasonal only: suppress this kind's alerts until then"
    )


class ReferenceRead(BaseModel):
    id: int
    target: str
    candidate_id: uuid.UUID
    version: int
    policy_version: int
    thresholds: dict[str, Any]
    source: dict[str, Any]
    rows: int
    features: list[str]
    classes: list[str]
    reference_f1: float | None
    created_at: datetime
    created_by: str


class ResultRead(BaseModel):
    kind: str
    window_start: datetime
    window_end: datetime
    n: int
    value: float | None
    threshold: float
    breached: bool
    figures: dict[str, Any]
    reference_id: int
    report_path: str | None = None


class AckRead(BaseModel):
    by: str
    at: datetime
    reason: str
    seasonal: bool
    until: datetime | None


class EventRead(BaseModel):
    id: uuid.UUID
    target: str
    kind: str
    status: str
    since: datetime
    opened_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None
    action: str
    reasons: list[str]
    figures: dict[str, Any]
    triage: dict[str, Any]
    training_run_id: uuid.UUID | None
    retrain_note: str | None
    paged_at: datetime | None
    ack: AckRead | None
    reference_id: int


class DriftRead(BaseModel):
    target: str
    reference: ReferenceRead | None
    latest: dict[str, ResultRead | None]
    history: dict[str, list[ResultRead]]
    live: dict[str, Any] | None = Field(
        default=None, description="figures computed now over the trailing window (not stored)"
    )
    events: list[EventRead]
