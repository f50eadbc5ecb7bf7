"""What the rules read (``AbortRules``: the policy's thresholds) and what they return (``Trigger`` on the
abort path, ``Recheck`` on the re-enable path)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gatekeeper.canary.rules.arrays import BoolArray, GroupArrays, IntArray
from gatekeeper.canary.rules.windows import from_epoch, parse_time
from gatekeeper.errors import Conflict
from gatekeeper.policy.schema import AbortRulesPolicy

RULES: tuple[str, ...] = ("safety", "error_rate", "latency_p99", "exception", "sequential")


class NoBaseline(Conflict):
    """The re-enable check needs pre-canary baseline windows and there are none usable."""


class AbortRules(AbortRulesPolicy):
    """What the rules read: the policy's typed ``abort_rules`` (every threshold and its default is defined
    there, once) plus ``canary.safety_metrics``."""

    safety_metrics: tuple[str, ...] = ()

    @classmethod
    def from_policy(
        cls, abort_rules: AbortRulesPolicy | Mapping[str, Any], safety_metrics: Sequence[str] = ()
    ) -> AbortRules:
        """Read a policy's ``abort_rules`` (the model or its mapping); unknown keys and bad values refused."""
        data = abort_rules.model_dump() if isinstance(abort_rules, AbortRulesPolicy) else dict(abort_rules)
        return cls.model_validate({**data, "safety_metrics": tuple(safety_metrics)})

    def to_dict(self) -> dict[str, Any]:
        """Return the thresholds as JSON-ready values (recorded with every trigger)."""
        return self.model_dump(mode="json")


@dataclass(frozen=True)
class Trigger:
    """A rule that fired: the canary windows that made it fire and the figures an on-call engineer reads.

    ``fired_at`` is the end of the last window: the first tick at which the daemon could have aborted.
    """

    rule: str
    metric: str | None
    window_starts: tuple[datetime, ...]
    figures: dict[str, Any]
    fired_at: datetime
    # The windows the rule fired on, as received: {"canary": [...], "holdout": [...]}, each in the JSON
    # form of ``Window.to_dict``. The re-enable check reads the canary figures from here, never from the
    # database, so nothing posted after the abort can change its verdict. Empty for hand-built triggers.
    evidence: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form (ISO timestamps)."""
        return {
            "rule": self.rule,
            "metric": self.metric,
            "fired_at": self.fired_at.isoformat(),
            "window_starts": [s.isoformat() for s in self.window_starts],
            "figures": self.figures,
            "evidence": self.evidence,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Trigger:
        """Read back what ``to_dict`` wrote (the re-enable check runs on a stored trigger)."""
        return cls(
            rule=data["rule"],
            metric=data.get("metric"),
            window_starts=tuple(parse_time(s) for s in data["window_starts"]),
            figures=dict(data.get("figures") or {}),
            fired_at=parse_time(data["fired_at"]),
            evidence={g: list(ws) for g, ws in (data.get("evidence") or {}).items()},
        )

    @property
    def recorded(self) -> bool:
        """Whether the canary windows the rule fired on were recorded with it (older aborts lack them)."""
        return bool(self.evidence.get("canary"))


@dataclass(frozen=True)
class Recheck:
    """The re-enable check: does the trigger still fire against the pre-canary baseline?"""

    fires: bool
    figures: dict[str, Any]
    reason: str


def make_trigger(
    rule: str, metric: str | None, c: GroupArrays, idx: Sequence[int], figures: dict[str, Any]
) -> Trigger:
    """A trigger on canary windows ``idx`` (a contiguous run), fired at the end of the last one."""
    starts = tuple(from_epoch(c.start[i]) for i in idx)
    span = (int(c.end[idx[-1]]) - int(c.start[idx[0]])) / 60.0
    return Trigger(rule, metric, starts, {"span_minutes": span, **figures}, from_epoch(c.end[idx[-1]]))


def verdict(rule: str, fires: bool, detail: str) -> str:
    """The re-enable check's sentence."""
    if fires:
        return f"{rule} still fires against the pre-canary baseline ({detail}): the canary regressed"
    return f"{rule} no longer fires against the pre-canary baseline ({detail}): the holdout was the anomaly"


def recheck_figures(
    reference: dict[str, Any], rows: list[dict[str, Any]], breach: BoolArray, idx: IntArray
) -> dict[str, Any]:
    """The figures of a windowed re-check (error, latency, safety)."""
    return {
        "baseline": reference,
        "windows": rows,
        "breaching_windows": int(breach.sum()),
        "windows_checked": int(idx.size),
    }
