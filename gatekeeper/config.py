"""One settings object, read from ``GATEKEEPER_*`` environment variables and refused at start-up
when it is wrong, so a misconfigured service never half-starts."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gatekeeper.errors import ConfigError

DEFAULT_DB_PATH = Path("var/gatekeeper.db")
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEKEEPER_", extra="ignore")

    database_url: str = Field(
        default=f"sqlite:///{DEFAULT_DB_PATH}",
        description="SQLAlchemy URL: sqlite:///path (embedded default) or postgresql+psycopg://...",
    )
    artifact_root: Path = Field(default=Path("var/artifacts"), description="Only artifacts under here load.")
    artifact_store: str = Field(
        default="",
        description="Where uploads go: empty for <artifact_root>/sha256, or s3://bucket/prefix.",
    )
    s3_endpoint_url: str | None = Field(
        default=None, description="S3-compatible endpoint (MinIO, a local server); credentials: AWS_*."
    )
    max_upload_bytes: int = Field(default=4 * 1024**3, gt=0, description="Largest artifact upload.")
    evalset_root: Path = Field(default=PROJECT_ROOT, description="Relative evalset_dir values resolve here.")
    report_dir: Path = Field(default=Path("var/reports"))
    log_dir: Path = Field(default=Path("var/logs"), description="Training logs and daemon logs.")
    slack_webhook_url: str | None = None
    pagerduty_url: str | None = Field(default=None, description="PagerDuty Events v2 enqueue URL.")
    pagerduty_routing_key: str = "gatekeeper-dev"
    outbox_claim_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="A message marked sending this long is taken for a dead sender's: sent again, same key.",
    )
    max_body_bytes: int = Field(default=16 * 1024 * 1024, gt=0)
    max_bulk_bytes: int = Field(
        default=1024**3, gt=0, description="Largest bulk prediction-log body (JSONL, spooled to disk)."
    )
    api_threads: int = Field(
        default=16,
        ge=1,
        le=256,
        description="Requests the API works on at once (more wait in the event loop); sizes its DB pool.",
    )
    evidence_skew_seconds: int = Field(
        default=300,
        ge=0,
        le=3600,
        description="How far a posted evidence timestamp may lie before its stage began or after now.",
    )
    bootstrap_resamples: int = Field(default=1000, ge=100)
    executor: Literal["local", "ray"] = Field(
        default="local",
        description="Where prediction passes run: in the worker process, or as Ray Data batch inference.",
    )
    ray_address: str | None = Field(
        default=None, description="Ray cluster to join (e.g. ray://head:10001); none: start a local one."
    )
    ray_actors: int = Field(default=2, ge=1, le=1024, description="Most actors (model copies) per pass.")
    ray_cpus_per_actor: float = Field(default=1.0, gt=0, le=256)
    ray_gpus_per_actor: float | None = Field(
        default=None,
        ge=0,
        le=16,
        description="GPUs per actor; unset: 1 for generators (generation by the gate), 0 otherwise.",
    )
    ray_max_restarts: int = Field(
        default=3, ge=0, le=100, description="Restarts of a dead actor (its unit is retried) before failing."
    )
    judge_base_url: str | None = Field(default=None, description="OpenAI-compatible judge for LLM metrics.")
    judge_model: str = "judge"
    judge_api_key: str = "none"

    @field_validator("database_url")
    @classmethod
    def _known_dialect(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
            raise ValueError("must start with sqlite:// or postgresql+psycopg://")
        if value.startswith("postgresql://"):
            value = "postgresql+psycopg://" + value[len("postgresql://") :]
        return value

    @field_validator("artifact_store")
    @classmethod
    def _store_uri(cls, value: str) -> str:
        if value and not re.match(r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/[^\s]*)?$", value):
            raise ValueError("must be empty (the local folder) or s3://bucket[/prefix]")
        return value.rstrip("/")

    @field_validator("ray_address")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value else None

    @field_validator("slack_webhook_url", "pagerduty_url", "judge_base_url", "s3_endpoint_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value or None

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning any validation error into one readable ``ConfigError`` line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "settings"
        raise ConfigError(f"configuration error: GATEKEEPER_{field.upper()}: {first['msg']}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
