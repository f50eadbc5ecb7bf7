"""Windows as columns (numpy arrays, epoch seconds): what every rule reads. Sorted by start with unique
starts; out-of-order input is sorted and a duplicate start keeps the last window given."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gatekeeper.canary.rules.windows import GROUPS, Window, epoch

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


def _as_epoch_array(values: ArrayLike | Sequence[datetime]) -> IntArray:
    arr = np.asarray(values)
    if arr.dtype.kind == "M":
        return arr.astype("datetime64[s]").astype(np.int64)
    if arr.dtype.kind in "iuf":
        return arr.astype(np.int64)
    return np.fromiter((epoch(v) for v in arr.ravel()), dtype=np.int64, count=arr.size)


def _last_of_each_start(s: IntArray) -> IntArray:
    """Indices sorted by start, keeping the last window given among equal starts."""
    order = np.argsort(s, kind="stable")  # stable: among equal starts the last given stays last
    ss = s[order]
    keep = np.ones(s.size, dtype=bool)
    keep[:-1] = ss[1:] != ss[:-1]
    return order[keep]


@dataclass(frozen=True)
class GroupArrays:
    """One group's windows as columns, sorted by start with unique starts; times are epoch seconds.

    ``safety[m]`` is NaN where a window did not report ``m``; ``exceptions[t]`` is 0 where absent.
    """

    start: IntArray
    end: IntArray
    requests: IntArray
    errors: IntArray
    latency_p99_ms: FloatArray
    safety: Mapping[str, FloatArray]
    exceptions: Mapping[str, IntArray]

    def __len__(self) -> int:
        return int(self.start.size)

    def select(self, mask: BoolArray | IntArray) -> GroupArrays:
        """The windows where ``mask`` is true, or at the indices it lists."""
        return GroupArrays(
            self.start[mask],
            self.end[mask],
            self.requests[mask],
            self.errors[mask],
            self.latency_p99_ms[mask],
            {k: v[mask] for k, v in self.safety.items()},
            {k: v[mask] for k, v in self.exceptions.items()},
        )

    @classmethod
    def empty(cls) -> GroupArrays:
        """Return a group with no windows."""
        i = np.zeros(0, dtype=np.int64)
        return cls(i, i, i, i, np.zeros(0, dtype=np.float64), {}, {})

    @classmethod
    def from_columns(
        cls,
        *,
        start: ArrayLike | Sequence[datetime],
        end: ArrayLike | Sequence[datetime],
        requests: ArrayLike,
        errors: ArrayLike,
        latency_p99_ms: ArrayLike,
        safety: Mapping[str, ArrayLike] | None = None,
        exceptions: Mapping[str, ArrayLike] | None = None,
    ) -> GroupArrays:
        """Build from columns (e.g. a DB query); sorts by start and keeps the last of duplicate starts.

        ``start``/``end`` may be epoch seconds, ``datetime64`` or datetimes (naive = UTC).
        """
        s = _as_epoch_array(start)
        e = _as_epoch_array(end)
        req = np.asarray(requests, dtype=np.int64)
        err = np.asarray(errors, dtype=np.int64)
        p99 = np.asarray(latency_p99_ms, dtype=np.float64)
        saf = {k: np.asarray(v, dtype=np.float64) for k, v in (safety or {}).items()}
        exc = {k: np.asarray(v, dtype=np.int64) for k, v in (exceptions or {}).items()}
        n = s.size
        for name, col in [
            ("end", e),
            ("requests", req),
            ("errors", err),
            ("latency_p99_ms", p99),
            *saf.items(),
            *exc.items(),
        ]:
            if col.shape != (n,):
                raise ValueError(f"column {name!r} has shape {col.shape}, expected ({n},)")
        group = cls(s, e, req, err, p99, saf, exc)
        if n > 1 and not bool(np.all(s[1:] > s[:-1])):
            return group.select(_last_of_each_start(s))
        return group

    @classmethod
    def from_windows(cls, windows: Iterable[Window]) -> GroupArrays:
        """Build from windows of one group (the group field is not checked here); a safety metric or an
        exception type that a window lacks is NaN or 0 in it."""
        ws = list(windows)
        if not ws:
            return cls.empty()
        metrics = dict.fromkeys(m for w in ws for m in w.safety)
        types = dict.fromkeys(t for w in ws for t in w.exceptions)
        return cls.from_columns(
            start=np.array([epoch(w.start) for w in ws], dtype=np.int64),
            end=np.array([epoch(w.end) for w in ws], dtype=np.int64),
            requests=[w.requests for w in ws],
            errors=[w.errors for w in ws],
            latency_p99_ms=[w.latency_p99_ms for w in ws],
            safety={m: [w.safety.get(m, math.nan) for w in ws] for m in metrics},
            exceptions={t: [w.exceptions.get(t, 0) for w in ws] for t in types},
        )


@dataclass(frozen=True)
class WindowArrays:
    """The three groups of one canary as columns: the fast entry point for the daemon."""

    canary: GroupArrays
    holdout: GroupArrays
    baseline: GroupArrays

    @classmethod
    def from_windows(cls, windows: Iterable[Window]) -> WindowArrays:
        """Split windows by group and convert each group to columns."""
        by_group: dict[str, list[Window]] = {g: [] for g in GROUPS}
        for w in windows:
            by_group[w.group].append(w)
        return cls(*(GroupArrays.from_windows(by_group[g]) for g in GROUPS))


def as_arrays(windows: Sequence[Window] | WindowArrays) -> WindowArrays:
    """Accept windows or their columns."""
    return windows if isinstance(windows, WindowArrays) else WindowArrays.from_windows(windows)
