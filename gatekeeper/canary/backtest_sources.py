"""Where a backtest's streams come from: JSONL files of ``POST /v1/canaries/{id}/metrics`` bodies, the
shipped simulator (``--simulate healthy:N``, ``error_ratio=2.0:N``, ...), and the database's recorded
canaries. Parsing and simulation are pure (text in, streams out); only ``recorded`` reads the database."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from gatekeeper.canary import windows as canary_windows
from gatekeeper.canary.backtest import Stream, compare, regression_label
from gatekeeper.canary.models import Canary
from gatekeeper.canary.rules import AbortRules, Window, WindowArrays
from gatekeeper.canary.rules.windows import epoch
from gatekeeper.canary.schemas import MetricBatch
from gatekeeper.canary.simulate import Kind, Regression, stream_arrays
from gatekeeper.errors import ValidationFailed
from gatekeeper.policy.schema import Policy

# --simulate KIND[=MAGNITUDE]:N -> the simulator's regression kind (None: healthy)
SIMULATED: dict[str, Kind | None] = {
    "healthy": None,
    "error_ratio": "error_rate",
    "p99_ratio": "latency_p99",
    "safety": "safety",  # additive change of the safety metric (negative = worse)
    "exception": "exception",  # rate of a new, canary-only exception type
}
_SPEC = re.compile(r"^(?P<kind>[a-z0-9_]+)(=(?P<magnitude>-?[0-9.]+(e-?[0-9]+)?))?:(?P<n>[0-9]+)$")
EPOCH = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday; simulated canaries start at spread hours after it


@dataclass(frozen=True)
class Simulation:
    """One ``--simulate`` spec: N streams of one kind (a regression from ``onset`` on, to the end)."""

    kind: str
    magnitude: float | None
    n: int

    @property
    def label(self) -> str | None:
        return None if self.magnitude is None else regression_label(self.kind, self.magnitude)


def parse_simulation(spec: str) -> Simulation:
    """Read ``healthy:N`` or ``KIND=MAGNITUDE:N`` (KIND in ``SIMULATED``); a bad spec names itself."""
    m = _SPEC.match(spec.strip())
    if m is None or m["kind"] not in SIMULATED:
        kinds = ", ".join(f"{k}=X" if SIMULATED[k] else k for k in SIMULATED)
        raise ValidationFailed(
            f"--simulate {spec!r}: expected KIND[=X]:N with KIND one of {kinds}", field="simulate"
        )
    healthy = m["kind"] == "healthy"
    if healthy == (m["magnitude"] is not None) or int(m["n"]) < 1:
        raise ValidationFailed(
            f"--simulate {spec!r}: healthy takes no magnitude, a regression needs one, N >= 1",
            field="simulate",
        )
    return Simulation(m["kind"], None if healthy else float(m["magnitude"]), int(m["n"]))


@dataclass(frozen=True)
class SimSettings:
    """How simulated canaries run: their length, when a regression begins, an optional stage plan
    ``[(share, days)]`` (the canary's share follows it) and the first seed."""

    days: float = 7.0
    onset: timedelta = timedelta(days=1)
    stages: Sequence[tuple[float, float]] | None = None
    seed: int = 0


def simulated(sim: Simulation, settings: SimSettings, lo: int = 0, hi: int | None = None) -> Iterator[Stream]:
    """Streams ``lo`` to ``hi`` of the spec, from the shipped simulator: stream i has seed ``seed + i`` and
    starts at hour 7 i mod 24 (canaries start at any time of day)."""
    kind, days = SIMULATED[sim.kind], settings.days
    for i in range(lo, sim.n if hi is None else hi):
        start = EPOCH + timedelta(hours=(7 * i) % 24)
        change = None
        if kind is not None and sim.magnitude is not None:
            change = Regression(kind, settings.onset, timedelta(days=days + 1), sim.magnitude)
        seed = settings.seed + i
        arrays = stream_arrays(start, days, seed, regression=change, stages=settings.stages)
        begins = epoch(start + settings.onset) if change else None
        yield Stream(f"{sim.kind}-{seed}", arrays, sim.label, begins, epoch(start))


def _line(text: str, where: str) -> tuple[MetricBatch, str | None, int | None]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationFailed(f"{where}: not JSON ({exc.msg})", field=where) from None
    if not isinstance(data, dict):
        raise ValidationFailed(f"{where}: expected a JSON object with 'windows'", field=where)
    stream, start = data.pop("stream", None), data.pop("regression_start", None)
    try:
        batch = MetricBatch.model_validate(data)
        begins = epoch(datetime.fromisoformat(start)) if start is not None else None
    except (ValidationError, ValueError, TypeError) as exc:
        first = (
            exc.errors()[0]
            if isinstance(exc, ValidationError)
            else {"loc": ["regression_start"], "msg": str(exc)}
        )
        loc = ".".join(str(p) for p in first["loc"])
        raise ValidationFailed(f"{where}: {loc}: {first['msg']}", field=f"{where}:{loc}") from None
    return batch, None if stream is None else str(stream), begins


def parse_jsonl(lines: Iterable[str], *, name: str) -> list[Stream]:
    """Streams from JSONL text: one POST body per line, with an optional ``stream`` id (default ``name``,
    the file's) and ``regression_start`` (ISO time, aware). Errors name the file and the line number."""
    windows: dict[str, list[Window]] = {}
    starts: dict[str, int] = {}
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        batch, stream, begins = _line(text, f"{name}:{number}")
        sid = stream or name
        if begins is not None and starts.setdefault(sid, begins) != begins:
            raise ValidationFailed(
                f"{name}:{number}: stream {sid!r} has two regression_start values", field=f"{name}:{number}"
            )
        windows.setdefault(sid, []).extend(_window(w.model_dump()) for w in batch.windows)
    return [
        Stream(
            sid,
            WindowArrays.from_windows(ws),
            "recorded regression" if sid in starts else None,
            starts.get(sid),
        )
        for sid, ws in windows.items()
    ]


def _window(data: dict[str, Any]) -> Window:
    return Window(**data)


def recorded(
    session: Session, *, safety_metrics: Sequence[str], target_id: int | None = None, canary_id: Any = None
) -> list[Stream]:
    """The recorded canaries of a target (or one canary), each judged from its first canary window to its
    promotion (a baking champion is judged against its reference, not by these rules)."""
    stmt = select(Canary).order_by(Canary.started_at)
    stmt = (
        stmt.where(Canary.id == canary_id)
        if canary_id is not None
        else stmt.where(Canary.target_id == target_id)
    )
    canaries = list(session.scalars(stmt))
    loaded = canary_windows.load(session, [c.id for c in canaries], safety_metrics)
    return [
        Stream(str(c.id), loaded[c.id], until=epoch(c.promoted_at) if c.promoted_at else None)
        for c in canaries
    ]


RECENT = 20  # the policy change response replays at most this many recent canaries (bounded in time)


def policy_comparison(session: Session, *, target_id: int, old: Policy, new: Policy) -> dict[str, Any]:
    """The backtest of the current and the new policy over the target's most recent recorded canaries
    (``RECENT`` at most): what ``PUT /v1/targets/{t}/policy`` answers with. No canary: no streams."""
    metrics = sorted({*old.canary.safety_metrics, *new.canary.safety_metrics})
    streams = recorded(session, safety_metrics=metrics, target_id=target_id)
    shown = streams[-RECENT:]
    policies = [("current", rules_of(old)), ("new", rules_of(new))]
    return {**compare(shown, policies), "canaries": len(shown), "left_out": len(streams) - len(shown)}


def rules_of(policy: Policy) -> AbortRules:
    return AbortRules.from_policy(policy.abort_rules, policy.canary.safety_metrics)
