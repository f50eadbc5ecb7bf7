"""One metric window as the serving layer posts it, and the epoch-second times the rules work in
(naive datetimes are read as UTC; results carry aware UTC datetimes)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

GROUPS: tuple[str, ...] = ("canary", "holdout", "baseline")
DAY_S = 24 * 3600
HOUR_S = 3600
WINDOWS_PER_HOUR = 12
WINDOW_MINUTES = 5  # the serving layer posts 5-minute windows


def epoch(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp())


def from_epoch(seconds: int) -> datetime:
    return datetime.fromtimestamp(int(seconds), tz=UTC)


def iso(seconds: int) -> str:
    return from_epoch(seconds).isoformat()


def parse_time(value: datetime | str) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


@dataclass(frozen=True)
class Window:
    """One 5-minute metric window of one group, as posted to ``/v1/canaries/{id}/metrics``."""

    start: datetime
    end: datetime
    group: str
    requests: int
    errors: int
    latency_p99_ms: float
    safety: Mapping[str, float] = field(default_factory=dict)
    exceptions: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.group not in GROUPS:
            raise ValueError(f"group must be one of {GROUPS}, got {self.group!r}")
        if self.end <= self.start:
            raise ValueError(f"window end {self.end} is not after its start {self.start}")
        if self.requests < 0 or not 0 <= self.errors <= self.requests:
            raise ValueError(f"need 0 <= errors <= requests, got {self.errors} / {self.requests}")
        if any(count < 0 for count in self.exceptions.values()):
            raise ValueError("exception counts must be non-negative")

    def to_dict(self) -> dict[str, Any]:
        """The JSON body of one window in ``POST /v1/canaries/{id}/metrics`` (``from_dict`` reads it)."""
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "group": self.group,
            "requests": self.requests,
            "errors": self.errors,
            "latency_p99_ms": self.latency_p99_ms,
            "safety": dict(self.safety),
            "exceptions": dict(self.exceptions),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Window:
        """Build a window from its JSON form (ISO timestamps accepted)."""
        return cls(
            start=parse_time(data["start"]),
            end=parse_time(data["end"]),
            group=data["group"],
            requests=int(data["requests"]),
            errors=int(data["errors"]),
            latency_p99_ms=float(data["latency_p99_ms"]),
            safety={k: float(v) for k, v in (data.get("safety") or {}).items()},
            exceptions={k: int(v) for k, v in (data.get("exceptions") or {}).items()},
        )
