"""Sustained-threshold decisions over a series of drift windows.

A drift alert fires only when the condition held in *every* window of a contiguous run that covers the
whole sustain period and ends at the latest window. The same rule serves 24 h of 5-minute or hourly
windows and 7 days of daily windows:

* a window counts only with ``n >= min_samples`` and a finite value; a window that fails either breaks
  the run (no alert on 8 samples, and no alert carried across a blind spot);
* a gap between consecutive windows (next start later than previous end + ``max_gap``) breaks the run;
* coverage is ``last.window_end - first.window_start`` of the run and must be ``>= duration``: 24 hourly
  windows satisfy 24 h, 23 do not;
* windows must not overlap (rolling windows would each cover the whole period and fake a long run).

Pure: no clock. Pass ``as_of`` (and ``max_staleness``) to ignore unfinished windows and refuse a stale
series whose latest window ended too long ago.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, NamedTuple

Direction = Literal["above", "below"]

MIN_SAMPLES = 200  # per window, for PSI / KS / chi-square
MIN_LABELLED = 100  # per window, for concept delta-F1


class Window(NamedTuple):
    window_start: datetime
    window_end: datetime
    value: float
    n: int


@dataclass(frozen=True)
class SustainResult:
    active: bool
    since: datetime | None  # start of the qualifying run when active
    windows: int  # qualifying windows in the run ending at the latest window (also when not active)
    reason: str


@dataclass(frozen=True)
class SustainRule:
    """One drift kind's alert condition: value above/below threshold for ``duration``."""

    threshold: float
    direction: Direction
    duration: timedelta
    min_samples: int = MIN_SAMPLES

    def holds(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        return value > self.threshold if self.direction == "above" else value < self.threshold

    def evaluate(
        self,
        windows: Iterable[Window | tuple[datetime, datetime, float, int]],
        *,
        as_of: datetime | None = None,
        max_staleness: timedelta | None = None,
        max_gap: timedelta = timedelta(0),
    ) -> SustainResult:
        """Decide whether the condition has held in every window of the last ``duration``."""
        ws = _ordered(windows)
        if as_of is not None:
            ws = [w for w in ws if w.window_end <= as_of]
        if not ws:
            return SustainResult(False, None, 0, "no complete windows")
        latest = ws[-1]
        if as_of is not None and max_staleness is not None and as_of - latest.window_end > max_staleness:
            stale = f"stale: latest window ended {latest.window_end}, as of {as_of}"
            return SustainResult(False, None, 0, stale)
        run, stop = _latest_run(ws, self, max_gap)
        if not run:
            return SustainResult(False, None, 0, f"latest window does not count: {stop}")
        covered = run[0].window_end - run[-1].window_start
        if covered >= self.duration:
            return SustainResult(
                True,
                run[-1].window_start,
                len(run),
                f"{self.direction} {self.threshold:g} in all {len(run)} windows covering {covered} "
                f"(>= {self.duration})",
            )
        held = f"held in {len(run)} windows covering {covered} of {self.duration}"
        return SustainResult(False, None, len(run), held + (f"; {stop}" if stop else ""))


def rules_from_policy(
    drift: Mapping[str, Any], *, min_samples: int = MIN_SAMPLES, min_labelled: int = MIN_LABELLED
) -> dict[str, SustainRule]:
    """Build the four kinds' rules from a policy ``drift`` section (psi, psi_hours, label_chi2_p, ...)."""
    return {
        "input": SustainRule(float(drift["psi"]), "above", timedelta(hours=drift["psi_hours"]), min_samples),
        "label": SustainRule(
            float(drift["label_chi2_p"]), "below", timedelta(days=drift["label_days"]), min_samples
        ),
        "prediction": SustainRule(
            float(drift["prediction_ks"]), "above", timedelta(hours=drift["ks_hours"]), min_samples
        ),
        "concept": SustainRule(
            float(drift["concept_delta_f1"]), "above", timedelta(days=drift["concept_days"]), min_labelled
        ),
    }


def _ordered(windows: Iterable[Window | tuple[datetime, datetime, float, int]]) -> list[Window]:
    ws = sorted((Window(*w) for w in windows), key=lambda w: w.window_start)
    for w in ws:
        if w.window_end <= w.window_start:
            raise ValueError(f"window ending {w.window_end} does not end after its start {w.window_start}")
    for prev, nxt in zip(ws, ws[1:], strict=False):
        if nxt.window_start < prev.window_end:
            raise ValueError(f"windows overlap at {nxt.window_start}: sustain needs non-overlapping windows")
    return ws


def _latest_run(ws: list[Window], rule: SustainRule, max_gap: timedelta) -> tuple[list[Window], str]:
    """The windows, newest first, in which the condition holds without a break; and why the run stops."""
    run: list[Window] = []
    for w in reversed(ws):
        if run and run[-1].window_start - w.window_end > max_gap:
            return run, f"gap before {run[-1].window_start}"
        if w.n < rule.min_samples:
            return run, f"window at {w.window_start} has n={w.n} < {rule.min_samples}"
        if not rule.holds(w.value):
            expected = f"{rule.direction} {rule.threshold:g}"
            return run, f"window at {w.window_start} has value {w.value:.4g}, not {expected}"
        run.append(w)
    return run, ""


def sustained(
    windows: Iterable[Window | tuple[datetime, datetime, float, int]],
    *,
    threshold: float,
    direction: Direction,
    duration: timedelta,
    min_samples: int = MIN_SAMPLES,
    as_of: datetime | None = None,
    max_staleness: timedelta | None = None,
    max_gap: timedelta = timedelta(0),
) -> SustainResult:
    """Decide whether the condition has held in every window of the last ``duration`` (a rule given by
    its fields: ``SustainRule.evaluate``)."""
    rule = SustainRule(threshold, direction, duration, min_samples)
    return rule.evaluate(windows, as_of=as_of, max_staleness=max_staleness, max_gap=max_gap)
